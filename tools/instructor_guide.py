"""The instructor guide and the workshop tracks, generated from each lesson's metadata."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "instructor-guide.md"
DAY_MINUTES = 360  # six hours of teaching a day; breaks come on top and are listed apart

# The one-day track: the patterns a team meets first (an API, its data access, the N+1 problem,
# transactions, a cache and its errors), in an order where every prerequisite comes earlier.
ONE_DAY = ("00", "01", "02", "06", "07", "08", "09")
# The two-day track: every lesson; day one is the API and its data, day two what runs around it.
TWO_DAYS = (("00", "01", "02", "03", "04", "05", "06"),
            ("07", "08", "09", "10", "11", "12", "13"))
# Breaks, placed at the lesson boundary nearest this much teaching (minutes into the day).
BREAKS = ((90, "coffee", 15), (180, "lunch", 60), (270, "coffee", 15))
START = 9 * 60  # 09:00


@dataclass(frozen=True)
class Lesson:
    """One lesson as the guide sees it: its metadata and the parts of the notebook it quotes."""

    number: str
    title: str
    path: Path
    teach: int
    exercise: int
    prerequisites: tuple[str, ...]
    key_points: tuple[str, ...]
    demo: str
    predictions: tuple[str, ...]
    stuck: tuple[str, ...]
    answer: str
    check: str

    @property
    def minutes(self) -> int:
        return self.teach + self.exercise


def takeaways(nb: nbformat.NotebookNode) -> list[str]:
    """The numbered lines under the notebook's '## Takeaways' heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Takeaways" in cell.source:
            body = cell.source.split("## Takeaways", 1)[1]
            return [m.group(1).strip() for m in re.finditer(r"^\d+\.\s+(.+)$", body, re.M)]
    return []


def load(path: Path) -> Lesson:
    """Read one lesson's metadata (metadata.workbook) and its exercise answer and check."""
    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("workbook", {})
    minutes, guide = meta.get("minutes", {}), meta.get("instructor", {})
    title = nb.cells[0].source.splitlines()[0].split("·", 1)[-1].strip()
    code = [c for c in nb.cells if c.cell_type == "code"]
    solution = next((i for i, c in enumerate(code) if "solution" in c.metadata.get("tags", [])),
                    None)
    answer = code[solution].source if solution is not None else ""
    check = code[solution + 1].source if solution is not None and solution + 1 < len(code) else ""
    return Lesson(number=path.name[:2], title=title, path=path,
                  teach=int(minutes.get("teach", 0)), exercise=int(minutes.get("exercise", 0)),
                  prerequisites=tuple(meta.get("prerequisites", ())),
                  key_points=tuple(meta.get("key_points", ())),
                  demo=str(guide.get("demo", "")), predictions=tuple(guide.get("predictions", ())),
                  stuck=tuple(guide.get("stuck", ())), answer=answer, check=check)


def lessons(folder: Path = ROOT / "notebooks") -> dict[str, Lesson]:
    """Every lesson of the folder, by number."""
    return {p.name[:2]: load(p) for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))}


def problems(by_number: dict[str, Lesson]) -> list[str]:
    """What is missing or inconsistent in the lessons' metadata and the tracks (empty: all good)."""
    found: list[str] = []
    for n, lesson in by_number.items():
        nb = nbformat.read(lesson.path, as_version=4)
        if lesson.teach <= 0 or lesson.exercise <= 0:
            found.append(f"{n}: minutes.teach and minutes.exercise must both be set (> 0)")
        if not 15 <= lesson.minutes <= 90:
            found.append(f"{n}: {lesson.minutes} minutes in all; a lesson takes 15 to 90")
        for p in lesson.prerequisites:
            if p not in by_number or p >= n:
                found.append(f"{n}: prerequisite {p!r} is not an earlier lesson")
        if list(lesson.key_points) != takeaways(nb):
            found.append(f"{n}: key_points differ from the notebook's Takeaways")
        if not lesson.demo or not lesson.predictions or not lesson.stuck:
            found.append(f"{n}: instructor.demo, .predictions and .stuck must all be written")
        predicts = sum(c.source.count("Predict") for c in nb.cells if c.cell_type == "markdown")
        if len(lesson.predictions) > max(predicts, 1):
            found.append(f"{n}: {len(lesson.predictions)} wrong predictions listed for "
                         f"{predicts} 'Predict' questions")
        if not lesson.answer or "check_" not in lesson.check:
            found.append(f"{n}: no exercise answer followed by a check_ call")
    for name, days in (("one-day", (ONE_DAY,)), ("two-day", TWO_DAYS)):
        order = [n for day in days for n in day]
        for i, n in enumerate(order):
            if n not in by_number:
                found.append(f"{name} track: no lesson {n}")
                continue
            late = [p for p in by_number[n].prerequisites if p not in order[:i]]
            if late:
                found.append(f"{name} track: {n} comes before its prerequisites {late}")
        for day in days:
            total = sum(by_number[n].minutes for n in day if n in by_number)
            if total > DAY_MINUTES:
                found.append(f"{name} track: a day of {total} minutes, over {DAY_MINUTES}")
    if sorted(n for day in TWO_DAYS for n in day) != sorted(by_number):
        found.append("two-day track: it must hold every lesson exactly once")
    return found


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def day_plan(numbers: tuple[str, ...], by_number: dict[str, Lesson]) -> list[str]:
    """A day's table: lessons back to back, breaks at the first boundary past each mark."""
    rows = ["| time | slot | teach | exercise | minutes |", "|---|---|---:|---:|---:|"]
    now, taught, breaks = START, 0, list(BREAKS)
    for n in numbers:
        lesson = by_number[n]
        # A break goes at the lesson boundary nearest its mark: before a lesson that would
        # mostly run past it.
        while breaks and taught + lesson.minutes / 2 > breaks[0][0]:
            _, what, length = breaks.pop(0)
            rows.append(f"| {clock(now)} | *{what} break* | | | *{length}* |")
            now += length
        link = f"[{n} · {lesson.title}](../notebooks/{lesson.path.name})"
        rows.append(f"| {clock(now)} | {link} | {lesson.teach} | {lesson.exercise} | "
                    f"{lesson.minutes} |")
        now, taught = now + lesson.minutes, taught + lesson.minutes
    for _, what, length in breaks:  # a short day: the breaks left still happen
        rows.append(f"| {clock(now)} | *{what} break* | | | *{length}* |")
        now += length
    recap = DAY_MINUTES - taught
    rows.append(f"| {clock(now)} | recap, questions, `make check` together | {recap} | | {recap} |")
    rows.append(f"| {clock(now + recap)} | end: {DAY_MINUTES} minutes of teaching | | | "
                f"**{DAY_MINUTES}** |")
    return rows


def render(by_number: dict[str, Lesson]) -> str:
    """The whole guide as Markdown."""
    out = ["# Instructor guide", "",
           "Generated by `make guide` from each lesson's notebook metadata (`metadata.workbook`:",
           "`minutes`, `prerequisites`, `key_points`, `instructor`); `make test` fails when this",
           "file and the notebooks disagree. Minutes are for a room that types along: `teach` is",
           "the walk-through with its predictions, `exercise` the learners' own attempt and its",
           "check. Teaching days are six hours; the breaks are listed apart and not counted.", "",
           "Before the day: every learner runs `make doctor` and pastes its block to you; hand",
           "out the wheelhouse if the room's network is weak (README, *For trainers*).", "",
           "## One-day track", ""]
    out += day_plan(ONE_DAY, by_number)
    for i, day in enumerate(TWO_DAYS, 1):
        out += ["", f"## Two-day track: day {i}", ""] + day_plan(day, by_number)
    total = sum(lesson.minutes for lesson in by_number.values())
    out += ["", f"All {len(by_number)} lessons: {total} minutes of lessons, "
            f"{DAY_MINUTES * len(TWO_DAYS) - total} of recap over the two days.", ""]
    for n, lesson in by_number.items():
        prereq = ", ".join(lesson.prerequisites) or "none"
        out += [f"## {n} · {lesson.title}", "",
                f"*{lesson.teach} min teaching + {lesson.exercise} min exercise; "
                f"prerequisites: {prereq}; notebook: `notebooks/{lesson.path.name}`*", "",
                "**Key points**", ""]
        out += [f"{i}. {point}" for i, point in enumerate(lesson.key_points, 1)]
        out += ["", f"**Demo live.** {lesson.demo}", "", "**Common wrong predictions**", ""]
        out += [f"- {line}" for line in lesson.predictions]
        out += ["", "**Where learners get stuck**", ""]
        out += [f"- {line}" for line in lesson.stuck]
        out += ["", "**The exercise's answer** (the check cell below it judges any correct "
                "answer, not this one's shape)", "", "```python", lesson.answer.rstrip(),
                "```", "", "```python", lesson.check.rstrip(), "```", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the guide is out of date")
    args = parser.parse_args(argv)
    by_number = lessons()
    found = problems(by_number)
    for line in found:
        print(f"metadata: {line}", file=sys.stderr)
    if found:
        return 1
    text = render(by_number)
    if args.check:
        if not GUIDE.exists() or GUIDE.read_text() != text:
            print(f"{GUIDE.relative_to(ROOT)} is out of date: run make guide", file=sys.stderr)
            return 1
        return 0
    GUIDE.parent.mkdir(exist_ok=True)
    GUIDE.write_text(text)
    print(f"wrote {GUIDE.relative_to(ROOT)}: {len(by_number)} lessons")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
