"""The lessons' metadata (minutes, prerequisites, key points, instructor notes) and the guide."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import instructor_guide as guide  # noqa: E402


@pytest.fixture(scope="module")
def lessons() -> dict[str, guide.Lesson]:
    return guide.lessons()


def test_every_lesson_has_consistent_metadata_and_the_tracks_add_up(lessons) -> None:
    assert len(lessons) == 14
    assert guide.problems(lessons) == []


def test_the_stored_guide_is_what_the_metadata_generates(lessons) -> None:
    assert guide.GUIDE.read_text() == guide.render(lessons), "run make guide"


def test_each_day_is_six_hours_of_teaching_with_breaks_apart(lessons) -> None:
    for day in (guide.ONE_DAY, *guide.TWO_DAYS):
        rows = guide.day_plan(day, lessons)
        taught = sum(lessons[n].minutes for n in day)
        recap = next(r for r in rows if "recap" in r)
        assert f"| {guide.DAY_MINUTES - taught} |" in recap
        assert 0 <= guide.DAY_MINUTES - taught <= 45, f"{taught} minutes of lessons in a day"
        assert sum("break" in r for r in rows) == len(guide.BREAKS)
        assert rows[-1].startswith("| ") and "360" in rows[-1]
    assert sorted(n for day in guide.TWO_DAYS for n in day) == sorted(lessons)


def test_the_guide_shows_each_lessons_answer_and_notes(lessons) -> None:
    text = guide.GUIDE.read_text()
    for n, lesson in lessons.items():
        section = text.split(f"## {n} · ", 1)[1].split("\n## ", 1)[0]
        assert lesson.answer.strip().splitlines()[0] in section
        assert lesson.demo in section and all(p in section for p in lesson.stuck)


def test_problems_names_what_is_wrong(lessons, tmp_path) -> None:
    nb = nbformat.read(lessons["06"].path, as_version=4)
    meta = nb.metadata["workbook"]
    meta["key_points"] = meta["key_points"][:-1]
    meta["prerequisites"] = ["09"]
    meta["minutes"] = {"teach": 0, "exercise": 10}
    del meta["instructor"]["stuck"]
    nbformat.write(nb, tmp_path / "06_n_plus_one.ipynb")
    broken = dict(lessons, **{"06": guide.load(tmp_path / "06_n_plus_one.ipynb")})
    found = "\n".join(guide.problems(broken))
    for fragment in ("06: minutes.teach", "06: 10 minutes in all", "prerequisite '09'",
                     "key_points differ", "instructor.demo", "06 comes before its prerequisites"):
        assert fragment in found, fragment


def test_learner_copies_carry_no_instructor_notes(tmp_path) -> None:
    import workspace

    source = ROOT / "notebooks" / "06_n_plus_one.ipynb"
    copy = workspace.learner_copy(nbformat.read(source, as_version=4), source)
    assert "instructor" not in copy.metadata.get("workbook", {})
