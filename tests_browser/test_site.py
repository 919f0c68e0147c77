"""The rendered site (make site) in headless Chromium: the index, then one lesson page."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_site  # noqa: E402  (tools/build_site.py: what make site runs)

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def with_plot_and_answer() -> Path:
    """A lesson with a stored plot and a folded answer, to see both drawn."""
    for lesson in LESSONS:
        nb = nbformat.read(lesson, as_version=4)
        plots = any("image/png" in o.get("data", {})
                    for c in nb.cells for o in c.get("outputs", []))
        answer = any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        if plots and answer:
            return lesson
    pytest.fail("no lesson has both a plot and an exercise")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site.build(out)
    return out


def test_the_index_lists_every_lesson_and_one_lesson_page_reads_well(browser: Any,
                                                                       site: Path) -> None:
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        tab.goto((site / "index.html").as_uri())
        links = tab.locator("table a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert links == [f"{p.stem}.html" for p in LESSONS]
        lesson = with_plot_and_answer()
        tab.locator(f'table a[href="{lesson.stem}.html"]').click()
        tab.wait_for_load_state()
        assert tab.url.endswith(f"/{lesson.stem}.html")
        assert tab.locator("h1").first.is_visible()
        # The answer is folded: its code is not drawn until the learner opens it.
        answer = tab.locator("details.workbook-solution").first
        assert answer.evaluate("d => d.open") is False
        code = answer.locator(".jp-InputArea")
        assert not code.is_visible()
        answer.locator("summary").click()
        assert code.is_visible()
        # Every stored plot is drawn (decoded, with a size), none is a broken image.
        sizes = tab.locator("img").evaluate_all(
            "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        assert sizes and all(done and width > 0 for done, width in sizes), sizes
        tab.locator("nav.workbook-nav.top a", has_text="All lessons").click()
        tab.wait_for_load_state()
        assert tab.url.endswith("/index.html")
    finally:
        tab.close()
