"""Grade the learner's workspace: run each lesson copy in a fresh kernel, one line per lesson.

    check_workspace.py [--lesson NN] [--workspace DIR]

Nothing is saved back: the learner's copy stays as they left it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from workspace import RAISES, WORKSPACE, is_solution, lessons, select, tags

PASS, FAIL, ERROR, NO_EXERCISE = "PASS", "FAIL", "ERROR", "no exercise"


@dataclass(frozen=True)
class Verdict:
    """How one lesson copy fared: its status, the reason, and its exercises passed/total."""

    status: str
    detail: str = ""
    passed: int = 0
    exercises: int = 0


def one_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of a message, shortened."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_of(cell: NotebookNode) -> NotebookNode | None:
    """The cell's error output, if it raised."""
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def is_check(cell: NotebookNode) -> bool:
    """Whether the workspace builder marked the cell as an exercise's check."""
    return bool(cell.get("metadata", {}).get("workbook", {}).get("check"))


def exercises(cells: list[NotebookNode]) -> list[tuple[int, int | None]]:
    """(solution cell, check cell) pairs; the check is the marked cell, else the next code cell."""
    found: list[tuple[int, int | None]] = []
    solutions = [i for i, cell in enumerate(cells) if is_solution(cell)]
    for n, start in enumerate(solutions):
        end = solutions[n + 1] if n + 1 < len(solutions) else len(cells)
        after = [i for i in range(start + 1, end) if cells[i].cell_type == "code"]
        marked = [i for i in after if is_check(cells[i])]
        candidates = marked or after
        found.append((start, candidates[0] if candidates else None))
    return found


def cell_name(cells: list[NotebookNode], index: int) -> str:
    """How the learner finds a cell: its execution count after Run All, and its first line."""
    cell = cells[index]
    count = cell.get("execution_count")
    where = f"[{count}]" if count else f"number {index + 1}"
    return f"cell {where}: {one_line(cell.source, 40)}"


def failure(cells: list[NotebookNode], solution: int, check: int | None) -> str | None:
    """Why an exercise did not pass, in one line (None when it passed)."""
    mine = error_of(cells[solution])
    if mine is not None:
        return f"your exercise cell raised {mine.ename}: {one_line(mine.evalue)}"
    if check is None:
        return "no check cell after the exercise"
    if not cells[check].get("execution_count"):
        return "the check cell did not run"
    error = error_of(cells[check])
    if error is None:
        return None
    if error.ename == "WrongAnswer":
        return one_line(error.evalue)
    if error.ename == "NotImplementedError":  # the stub, called by a check that does not wrap it
        return f"the exercise is not written yet (NotImplementedError: {one_line(error.evalue)})"
    return f"{error.ename}: {one_line(error.evalue)}"


def error_before(cells: list[NotebookNode], solution: int, skip: set[int]) -> str | None:
    """An unexpected error in a lesson cell before the exercise (untagged, not an exercise)."""
    for index in range(solution):
        cell = cells[index]
        error = error_of(cell) if cell.cell_type == "code" else None
        if error is not None and index not in skip and RAISES not in tags(cell):
            return (f"before the exercise: {error.ename}: {one_line(error.evalue, 120)} "
                    f"({cell_name(cells, index)})")
    return None


def grade(nb: NotebookNode) -> Verdict:
    """The verdict on an executed lesson copy, read from its outputs."""
    pairs = exercises(nb.cells)
    if not pairs:
        return Verdict(NO_EXERCISE)
    exercise_cells = {i for pair in pairs for i in pair if i is not None}
    passed, first_problem = 0, None
    for solution, check in pairs:
        before = error_before(nb.cells, solution, exercise_cells)
        problem = (ERROR, before) if before else None
        if problem is None and (why := failure(nb.cells, solution, check)):
            problem = (FAIL, why)
        if problem is None:
            passed += 1
        first_problem = first_problem or problem
    if first_problem is None:
        return Verdict(PASS, "", passed, len(pairs))
    return Verdict(first_problem[0], first_problem[1], passed, len(pairs))


def execute(path: Path, timeout: int) -> NotebookNode:
    """Run a copy top to bottom in a fresh kernel started in its folder; the file is untouched."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   record_timing=False, resources={"metadata": {"path": str(path.parent)}}
                   ).execute(stderr=subprocess.DEVNULL)  # the kernel's own start-up warnings
    return nb


def run_one(path: Path, timeout: int) -> Verdict:
    """Execute and grade one lesson copy; a run that cannot finish is an error, told in a line."""
    try:
        nb = execute(path, timeout)
    except Exception as exc:  # a timeout, a dead kernel or an unreadable copy: say which
        name = type(exc).__name__
        return Verdict(ERROR, f"the run stopped: {name}: {one_line(str(exc))}", 0, 1)
    return grade(nb)


def label(path: Path) -> str:
    """'08 caching' for 08_caching.ipynb."""
    return f"{path.name[:2]} {path.stem[3:]}"


def line(path: Path, verdict: Verdict, width: int) -> str:
    """`08 caching        FAIL  expected …` (ERROR lines say `before the exercise: …`)."""
    text = f"{label(path):<{width}}  {verdict.status}"
    return f"{text}  {verdict.detail}" if verdict.detail else text


def summary(verdicts: list[Verdict]) -> str:
    """`9 of 14 exercises pass`."""
    passed = sum(v.passed for v in verdicts)
    total = sum(v.exercises for v in verdicts)
    return f"{passed} of {total} exercise{'s' if total != 1 else ''} pass"


def exit_code(verdicts: list[Verdict]) -> int:
    """Non-zero while any exercise fails or a lesson stops before its exercise."""
    return 1 if any(v.status in (FAIL, ERROR) for v in verdicts) else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lesson", default=os.environ.get("LESSON") or None)
    parser.add_argument("--workspace", type=Path, default=WORKSPACE)
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = select(lessons(args.workspace), args.lesson)
    if not paths:
        what = f"lesson {args.lesson}" if args.lesson else "lesson copies"
        print(f"no {what} in {args.workspace}/: `make lab` (or `make reset`) creates them",
              flush=True)
        return 2
    print(f"grading {len(paths)} lesson{'s' if len(paths) > 1 else ''} in {args.workspace.name}/,"
          " each in a fresh kernel (a few seconds each)", flush=True)
    width = max(len(label(p)) for p in paths)
    verdicts = []
    for path in paths:
        verdict = run_one(path, args.timeout)
        verdicts.append(verdict)
        print(line(path, verdict, width), flush=True)
    print(summary(verdicts), flush=True)
    return exit_code(verdicts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
