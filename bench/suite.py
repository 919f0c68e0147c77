"""Figures about the workbook itself; `python -m bench.suite` (make bench-suite) times its tests."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SLOWEST = 10


def figures(quick: bool = False) -> dict[str, int]:
    """suite.notebooks: how many lesson notebooks exist (the suite itself never runs here)."""
    return {"suite.notebooks": len(sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))}


def item_seconds(junit_xml: str) -> dict[str, float]:
    """Seconds per test item (setup + call + teardown, as pytest's JUnit report counts them)."""
    seconds: dict[str, float] = {}
    for case in ET.fromstring(junit_xml).iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        seconds[name] = seconds.get(name, 0.0) + float(case.get("time") or 0.0)
    return seconds


def notebook_seconds(items: dict[str, float]) -> dict[str, float]:
    """Seconds per notebook: its cells added up (the first one includes the kernel start)."""
    totals: dict[str, float] = defaultdict(float)
    for name, seconds in items.items():
        module = name.split("::", 1)[0]
        if module.startswith("notebooks.") or ".ipynb" in module:
            totals[module.removeprefix("notebooks.").split(".ipynb")[0]] += seconds
    return dict(totals)


def suite_figures(wall_seconds: float, items: dict[str, float]) -> dict[str, Any]:
    """The figures of one timed run: wall time, the slowest notebook, the slowest items."""
    books = notebook_seconds(items)
    slowest = sorted(items.items(), key=lambda kv: kv[1], reverse=True)[:SLOWEST]
    return {
        "suite.test_seconds": round(wall_seconds, 1),
        "suite.notebook_seconds_max": round(max(books.values(), default=0.0), 1),
        "suite.notebook_slowest": max(books, key=books.__getitem__, default=""),
        "suite.items": len(items),
        "suite.slowest_items": [[name, round(s, 2)] for name, s in slowest],  # slowest first
    }


def run_suite(pytest_args: list[str]) -> dict[str, Any]:
    """Run pytest (the tests and every notebook) once, timed; its JUnit report gives the items."""
    with tempfile.TemporaryDirectory(prefix="workbook-suite-") as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={report}",
                               *pytest_args], cwd=ROOT, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        if not report.exists():
            raise SystemExit(f"pytest stopped before it ran the suite (exit {done.returncode})")
        # A red run is still timed (every item ran), and says so: suite.pytest_exit is 0 when green.
        return {**suite_figures(wall, item_seconds(report.read_text())),
                "suite.pytest_exit": done.returncode}


def main(argv: list[str] | None = None) -> int:
    """Every argument goes to pytest as it is (make bench-suite passes -n 2 --dist loadscope)."""
    pytest_args = sys.argv[1:] if argv is None else argv
    found = run_suite(pytest_args)
    print(json.dumps(found, indent=2, sort_keys=True))
    return 1 if found["suite.pytest_exit"] else 0


if __name__ == "__main__":
    sys.exit(main())
