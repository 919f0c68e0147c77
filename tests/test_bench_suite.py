"""make bench-suite: the figures of one timed run, read from pytest's JUnit report."""

from __future__ import annotations

from bench import suite

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.test_caching" name="test_hit" time="0.250"/>
<testcase classname="tests.test_openapi" name="test_fuzz" time="6.000"/>
<testcase classname="notebooks.08_caching.ipynb" name="Cell 0" time="2.500"/>
<testcase classname="notebooks.08_caching.ipynb" name="Cell 1" time="1.000"/>
<testcase classname="notebooks.11_background_jobs.ipynb" name="Cell 0" time="3.000"/>
</testsuite></testsuites>"""


def test_each_notebook_is_the_sum_of_its_cells() -> None:
    items = suite.item_seconds(JUNIT)
    assert suite.notebook_seconds(items) == {"08_caching": 3.5, "11_background_jobs": 3.0}


def test_the_figures_name_the_wall_time_the_slowest_notebook_and_the_slowest_items() -> None:
    found = suite.suite_figures(41.26, suite.item_seconds(JUNIT))
    assert found["suite.test_seconds"] == 41.3
    assert found["suite.notebook_seconds_max"] == 3.5
    assert found["suite.notebook_slowest"] == "08_caching"
    assert found["suite.items"] == 5
    assert found["suite.slowest_items"][:2] == [
        ["tests.test_openapi::test_fuzz", 6.0], ["notebooks.11_background_jobs.ipynb::Cell 0", 3.0]]


def test_the_default_bench_never_runs_the_suite() -> None:
    assert set(suite.figures(quick=True)) == {"suite.notebooks"}
