"""The learner's workspace (tools/workspace.py), its grader (tools/check_workspace.py), make lab."""

from __future__ import annotations

import socket
import stat
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import check_workspace as cw  # noqa: E402
import lab  # noqa: E402
import workspace as ws  # noqa: E402

ANSWER = "def double(x):\n    return 2 * x  # THE ANSWER\n"
STUB = "def double(x):\n    raise NotImplementedError('your code here: return twice x')\n"
HINTS = ["Multiply by **two**.", "The answer is `x * ...` with a number."]
CHECK = ("from evidence.grading import call, expect, passed\n"
         "got = call('double', double, 2)\n"
         "expect(got == 4, 'double(2) == 4', f'your double gave {got!r}')\n"
         "passed('double doubles')")


def lesson(stub: bool = True, note: str = "Write `double`.") -> NotebookNode:
    """A small lesson as stored: outputs, a folded answer, its check, a cell after it."""
    metadata: dict = {"tags": ["solution"], "jupyter": {"source_hidden": True}}
    if stub:
        metadata["workbook"] = {"stub": STUB, "hints": HINTS}
    cells = [new_markdown_cell(f"# 99 Synthetic\n{note}"),
             new_code_cell("print('setup')", execution_count=1,
                           outputs=[new_output("stream", name="stdout", text="setup\n")]),
             new_code_cell(ANSWER, execution_count=2, metadata=metadata),
             new_code_cell(CHECK, execution_count=3,
                           outputs=[new_output("stream", name="stdout", text="✓ ok\n")]),
             new_code_cell("print('the rest of the lesson')", execution_count=4,
                           outputs=[new_output("stream", name="stdout", text="rest\n")])]
    return new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(notebooks, workspace) folders under tmp_path, one lesson stored."""
    notebooks, workspace = tmp_path / "notebooks", tmp_path / "workspace"
    notebooks.mkdir()
    nbformat.write(lesson(), notebooks / "99_synthetic.ipynb")
    return notebooks, workspace


def cell_sources(nb: NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells)


# --- the learner's copy -------------------------------------------------------------------

def test_copy_has_the_stub_no_outputs_a_tagged_check_and_folded_hints(tree) -> None:
    notebooks, workspace = tree
    assert ws.sync(notebooks, workspace) == ["99_synthetic.ipynb: copied into workspace/"]
    copy = nbformat.read(workspace / "99_synthetic.ipynb", as_version=4)
    assert "THE ANSWER" not in cell_sources(copy)
    exercise = next(c for c in copy.cells if "solution" in c.metadata.get("tags", []))
    assert exercise.source == STUB
    assert "source_hidden" not in exercise.metadata.get("jupyter", {}), "the stub must show"
    assert "workbook" not in exercise.metadata
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    index = copy.cells.index(exercise)
    check, hint1, hint2, rest = copy.cells[index + 1: index + 5]
    assert check.source == CHECK and ws.RAISES in check.metadata["tags"]
    for number, (hint, text) in enumerate(zip((hint1, hint2), HINTS, strict=True), 1):
        assert hint.cell_type == "markdown" and hint.metadata["workbook"]["hint"] == number
        assert hint.source.startswith(f"<details><summary><b>Hint {number} of 2</b>")
        assert text in hint.source and hint.source.rstrip().endswith("</details>")
    assert rest.source == "print('the rest of the lesson')"
    nbformat.validate(copy)  # the cell ids the builder gives are valid and unique
    reference = nbformat.read(notebooks / "99_synthetic.ipynb", as_version=4)
    assert copy.metadata["workbook"]["reference_sha256"] == ws.lesson_hash(reference)
    assert copy.cells[0].metadata["workbook"]["header"]
    assert "reference/99_synthetic%20(reference).ipynb" in copy.cells[0].source


def test_reference_copies_are_written_read_only_and_named_as_such(tree) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    path = workspace / "reference" / "99_synthetic (reference).ipynb"
    reference = nbformat.read(path, as_version=4)
    assert reference.cells[0].source.startswith("**Reference copy**")
    assert "../99_synthetic.ipynb" in reference.cells[0].source
    assert "THE ANSWER" in cell_sources(reference) and reference.cells[2].outputs
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    written = path.stat().st_mtime_ns
    ws.sync(notebooks, workspace)
    assert path.stat().st_mtime_ns == written, "an unchanged reference is not rewritten"
    nbformat.write(lesson(note="Now write `double` again."), notebooks / "99_synthetic.ipynb")
    ws.sync(notebooks, workspace)
    assert "again" in cell_sources(nbformat.read(path, as_version=4)), "refreshed on every sync"


def test_sync_never_overwrites_an_edited_copy_and_reports_a_changed_lesson(tree) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    mine = workspace / "99_synthetic.ipynb"
    edited = mine.read_text().replace("raise NotImplementedError", "return 2 * x  # mine")
    mine.write_text(edited)
    assert ws.sync(notebooks, workspace) == [], "nothing changed upstream: nothing to say"
    changed = lesson(note="Write `double`, now with a twist.")
    nbformat.write(changed, notebooks / "99_synthetic.ipynb")
    said = ws.sync(notebooks, workspace)
    assert len(said) == 1 and "changed upstream" in said[0] and "make reset LESSON=99" in said[0]
    assert mine.read_text() == edited


def test_a_re_execution_alone_is_not_a_change_upstream(tree) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    rerun = lesson()
    rerun.cells[1].outputs[0].text = "setup at 0x7f00deadbeef\n"  # outputs differ run to run
    nbformat.write(rerun, notebooks / "99_synthetic.ipynb")
    assert ws.sync(notebooks, workspace) == []


def test_a_missing_lesson_is_copied(tree) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    nbformat.write(lesson(), notebooks / "98_another.ipynb")
    assert ws.sync(notebooks, workspace) == ["98_another.ipynb: copied into workspace/"]
    assert (workspace / "98_another.ipynb").exists()
    (workspace / "98_another.ipynb").unlink()
    (workspace / "99_synthetic.ipynb").unlink()
    assert ws.sync(notebooks, workspace) == [
        "2 lessons copied into workspace/ (your copies: no answers, no outputs; the references "
        "are in reference/ beside them)"]


def test_reset_keeps_the_old_copy_beside_the_fresh_one(tree) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    mine = workspace / "99_synthetic.ipynb"
    mine.write_text(mine.read_text().replace("your code here", "my attempt"))
    said = ws.reset(notebooks, workspace, lesson="99")
    old = [p for p in workspace.glob("99_synthetic.old-*.ipynb")]
    assert len(old) == 1 and "my attempt" in old[0].read_text()
    assert said == [f"99_synthetic.ipynb: fresh copy in workspace/ (your old copy is now "
                    f"{old[0].name})"]
    assert "my attempt" not in mine.read_text() and "your code here" in mine.read_text()
    ws.reset(notebooks, workspace)  # all lessons, twice in the same second: nothing lost
    assert len(list(workspace.glob("99_synthetic.old-*.ipynb"))) == 2
    assert ws.lessons(workspace) == [mine], "the old copies are not lessons to grade"
    with pytest.raises(ws.Refused, match="no lesson 42"):
        ws.reset(notebooks, workspace, lesson="42")


def test_student_copies_have_no_answers_and_never_overwrite(tree, tmp_path: Path) -> None:
    notebooks, _ = tree
    handout = tmp_path / "handout"
    assert ws.student(handout, notebooks) == [f"1 learner copies in {handout}, without the answers"]
    copy = nbformat.read(handout / "99_synthetic.ipynb", as_version=4)
    assert "THE ANSWER" not in cell_sources(copy) and STUB in cell_sources(copy)
    assert "reference" not in copy.cells[0].source and not (handout / "reference").exists()
    with pytest.raises(ws.Refused, match="choose an empty folder"):
        ws.student(handout, notebooks)
    with_answers = tmp_path / "trainer"
    ws.student(with_answers, notebooks, with_reference=True)
    assert (with_answers / "reference" / "99_synthetic (reference).ipynb").exists()


# --- the fallback stub --------------------------------------------------------------------

FULL_ANSWER = '''import random
from functools import wraps

clock = Clock()
LIMIT: int = 3
print("dropped")


@cached(ttl=60)
def totals(market_id: int, *, fresh: bool = False) -> dict[str, int]:
    """Totals per side."""
    rows = query(market_id)
    return dict(rows)


class Service(Base):
    """A service."""
    retries = 3

    def close(self, market_id: int) -> None:
        self.update(market_id)
'''


def test_fallback_stub_keeps_imports_signatures_and_docstrings() -> None:
    stub = ws.fallback_stub(FULL_ANSWER)
    compile(stub, "stub", "exec")
    assert stub.startswith("import random\nfrom functools import wraps\n\n\n"
                           "clock = ...\nLIMIT: int = ...\n\n\n@cached")
    assert "dropped" not in stub
    assert ("@cached(ttl=60)\ndef totals(market_id: int, *, fresh: bool=False) -> "
            "dict[str, int]:\n    \"\"\"Totals per side.\"\"\"\n"
            "    raise NotImplementedError(") in stub
    assert "query" not in stub and "self.update" not in stub
    assert "class Service(Base):\n    \"\"\"A service.\"\"\"\n    retries = ...\n\n" \
           "    def close(self, market_id: int) -> None:\n" \
           "        raise NotImplementedError('your code here')" in stub
    namespace: dict = {"cached": lambda ttl: lambda f: f, "Clock": object, "Base": object}
    exec(stub, namespace)  # defining the stub must not raise: Run All goes on
    with pytest.raises(NotImplementedError, match="your code here"):
        namespace["totals"](1)


def test_a_solution_cell_without_metadata_gets_the_fallback_stub(tree) -> None:
    notebooks, workspace = tree
    nbformat.write(lesson(stub=False), notebooks / "99_synthetic.ipynb")
    ws.sync(notebooks, workspace)
    copy = nbformat.read(workspace / "99_synthetic.ipynb", as_version=4)
    assert "def double(x):\n    raise NotImplementedError('your code here')" in cell_sources(copy)
    assert not [c for c in copy.cells if "hint" in c.metadata.get("workbook", {})]


# --- make check: grading an executed copy -------------------------------------------------

def executed(*, before: NotebookNode | None = None, exercise: list | None = None,
             check: list | None = None, tagged_error: bool = False) -> NotebookNode:
    """A learner copy as the grader sees it after a run, with the outputs given."""
    nb = ws.learner_copy(lesson(), Path("99_synthetic.ipynb"))
    code = [c for c in nb.cells if c.cell_type == "code"]
    for count, cell in enumerate(code, 1):
        cell.execution_count = count
    setup, solution, check_cell, _ = code
    if before is not None:
        setup.outputs = [before]
        if tagged_error:
            setup.metadata["tags"] = [ws.RAISES]
    solution.outputs = exercise or []
    check_cell.outputs = check or []
    return nb


def error(ename: str, evalue: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=evalue, traceback=[])


WRONG = error("WrongAnswer", "expected double(2) == 4; your double gave 5\n"
                             "(stuck? open the hints below the check cell)")


def test_grade_reads_pass_fail_and_error_before_the_exercise() -> None:
    assert cw.grade(executed()) == cw.Verdict("PASS", "", 1, 1)
    assert cw.grade(executed(check=[WRONG])) == cw.Verdict(
        "FAIL", "expected double(2) == 4; your double gave 5", 0, 1)
    assert cw.grade(executed(check=[error("NameError", "name 'double' is not defined")])) \
        == cw.Verdict("FAIL", "NameError: name 'double' is not defined", 0, 1)
    assert cw.grade(executed(check=[error("NotImplementedError", "your code here")])).detail \
        == "the exercise is not written yet (NotImplementedError: your code here)"
    verdict = cw.grade(executed(exercise=[error("SyntaxError", "invalid syntax (1, 5)")],
                                check=[error("NameError", "name 'double' is not defined")]))
    assert verdict.detail == "your exercise cell raised SyntaxError: invalid syntax (1, 5)"
    broken = executed(before=error("KeyError", "'markets'"), check=[WRONG])
    assert cw.grade(broken) == cw.Verdict(
        "ERROR", "before the exercise: KeyError: 'markets' (cell [1]: print('setup'))", 0, 1)
    meant = executed(before=error("ValueError", "the lesson's deliberate error"),
                     tagged_error=True)
    assert cw.grade(meant).status == "PASS", "a cell tagged raises-exception is meant to fail"
    assert cw.grade(new_notebook(cells=[new_code_cell("x = 1")])).status == "no exercise"


def test_the_check_is_found_even_after_a_scratch_cell_the_learner_added() -> None:
    nb = executed(check=[WRONG])
    index = next(i for i, c in enumerate(nb.cells) if "solution" in c.metadata.get("tags", []))
    nb.cells.insert(index + 1, new_code_cell("double(3)", execution_count=9))
    assert cw.grade(nb).status == "FAIL"


def test_lines_summary_and_exit_code() -> None:
    path = Path("08_caching.ipynb")
    assert cw.line(path, cw.Verdict("PASS", "", 1, 1), 16) == "08 caching        PASS"
    assert cw.line(path, cw.Verdict("FAIL", "expected 1; got 2", 0, 1), 16) \
        == "08 caching        FAIL  expected 1; got 2"
    verdicts = [cw.Verdict("PASS", "", 1, 1)] * 9 + [cw.Verdict("FAIL", "x", 0, 1)] * 5
    assert cw.summary(verdicts) == "9 of 14 exercises pass"
    assert cw.exit_code(verdicts) == 1
    assert cw.exit_code([cw.Verdict("PASS", "", 1, 1), cw.Verdict("no exercise")]) == 0
    assert cw.exit_code([cw.Verdict("ERROR", "before the exercise: …", 0, 1)]) == 1


def test_make_check_runs_a_copy_in_a_kernel_without_saving_it(tree, capsys) -> None:
    notebooks, workspace = tree
    ws.sync(notebooks, workspace)
    mine = workspace / "99_synthetic.ipynb"
    before = mine.read_text()
    assert cw.main(["--workspace", str(workspace), "--lesson", "99"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ("99 synthetic  FAIL  double is not written yet (your code here: return "
                        "twice x): replace the stub's `raise NotImplementedError` with your code")
    assert lines[2] == "0 of 1 exercise pass"
    assert mine.read_text() == before, "the learner's copy is not saved back"


def test_make_check_without_a_workspace_says_how_to_make_one(tmp_path: Path, capsys) -> None:
    assert cw.main(["--workspace", str(tmp_path / "workspace")]) == 2
    assert "make lab" in capsys.readouterr().out


# --- make lab ----------------------------------------------------------------------------

def test_lab_sees_a_busy_port_and_never_moves_to_another() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert not lab.port_free("127.0.0.1", port)
    assert "--ServerApp.port_retries=0" in lab.lab_command(port, Path("workspace"))
    assert f"--port={port}" in lab.lab_command(port, Path("workspace"))
