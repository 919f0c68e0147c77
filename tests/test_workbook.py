"""The workbook's promises: notebook hygiene, the README's lesson table, equal dependency lists."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Things that belong to one machine or one run, not to a lesson.
FORBIDDEN = {
    "an absolute path": re.compile(r"(/home/|/root/|/work/|/Users/|/tmp/|[A-Z]:\\\\)"),
    "a memory address": re.compile(r"\bat 0x[0-9a-fA-F]{6,}"),
    "a host name": re.compile(r"\b[a-z0-9-]+\.(internal|local|lan)\b"),
}




def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_from_one_clean_top_to_bottom_run(path: Path) -> None:
    counts = [c["execution_count"] for c in code_cells(load(path))]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_as_jupyterlab_writes_it(path: Path) -> None:
    # Anything else is rewritten and autosaved when a learner opens the lesson.
    spec = load(path)["metadata"]["kernelspec"]
    assert spec == {"name": "python3", "display_name": "Python 3 (ipykernel)",
                    "language": "python"}


def tagged_to_raise(cell: dict) -> bool:
    return "raises-exception" in cell.get("metadata", {}).get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_errors_only_where_a_cell_is_tagged_to_raise(path: Path) -> None:
    # JupyterLab's Run All stops at an error in a cell without the tag; nbval honours it too.
    for cell in code_cells(load(path)):
        source = "".join(cell["source"])
        if any(o["output_type"] == "error" for o in cell["outputs"]):
            assert tagged_to_raise(cell), f"error output without the raises-exception tag: " \
                                          f"{source[:80]}"
        if "NBVAL_RAISES_EXCEPTION" in source:
            assert tagged_to_raise(cell), f"comment without the tag: {source[:80]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_timing_metadata_stored(path: Path) -> None:
    timed = [c for c in load(path)["cells"] if "execution" in c.get("metadata", {})]
    assert not timed, f"{len(timed)} cells keep execution timings (re-run make notebooks)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_machine_specific_text_in_outputs(path: Path) -> None:
    for cell in code_cells(load(path)):
        text = json.dumps(cell["outputs"])  # tracebacks too: a reader sees them
        for what, pattern in FORBIDDEN.items():
            where = "".join(cell["source"])[:60]
            assert not pattern.search(text), f"{what} in the output of: {where}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00_")],
                         ids=lambda p: p.name)
def test_lesson_anatomy(path: Path) -> None:
    nb = load(path)
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    number = path.name[:2]
    assert markdown.lstrip().startswith(f"# {number} · ")
    for heading in ("## What goes wrong", "## The working pattern", "## Evidence", "## Your turn",
                    "## In production", "## Takeaways"):
        assert heading in markdown, f"missing section {heading!r}"
    cells = nb["cells"]
    solutions = [i for i, c in enumerate(cells)
                 if "solution" in c.get("metadata", {}).get("tags", [])]
    assert solutions, "no exercise cell tagged 'solution'"
    after = [c for c in cells[solutions[0] + 1:] if c["cell_type"] == "code"]
    assert after, "the exercise has no check cell"
    check = "".join(after[0]["source"])
    assert re.search(r"from evidence\.[\w.]+ import .*\bcheck_\w+", check) and \
        re.search(r"\bcheck_\w+\(", check), "the check cell calls a check_ function of evidence"
    assert not re.search(r"^\s*assert\b", check, re.M), "no bare assert in the check cell"
    share = sum(c["cell_type"] == "markdown" for c in cells) / len(cells)
    assert share >= 0.35, f"markdown carries the story: only {share:.0%} of cells"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_has_a_stub_and_hints_for_the_workspace(path: Path) -> None:
    import ast

    cells = load(path)["cells"]
    for cell in [c for c in cells if "solution" in c.get("metadata", {}).get("tags", [])]:
        workbook = cell["metadata"].get("workbook", {})
        stub, hints = workbook.get("stub"), workbook.get("hints", [])
        assert stub, "the solution cell has no workbook.stub for the learner's copy"
        assert 1 <= len(hints) <= 2 and all(h.strip() for h in hints), "one or two hints"

        def names(source: str) -> set[str]:
            tree = ast.parse(source)
            return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)} | {
                t.id for n in tree.body if isinstance(n, ast.Assign)
                for t in n.targets if isinstance(t, ast.Name)}

        answer = "".join(cell["source"])
        assert names(stub) == names(answer), "the stub defines what the answer defines"
        assert "NotImplementedError" in stub or "..." in stub, "the stub says: your code here"


def readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("## Lessons", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|")
            for line in table.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # drop the header


def test_readme_lesson_table_matches_the_tree() -> None:
    rows = readme_rows()
    assert sorted(row[0] for row in rows) == sorted(p.name[:2] for p in NOTEBOOKS), \
        "every notebook has one row, every row a notebook"
    for number, _title, notebook, modules, tests in rows:
        link = re.fullmatch(r"\[(notebooks/\d\d_\w+\.ipynb)\]\((notebooks/\d\d_\w+\.ipynb)\)",
                            notebook)
        assert link and link.group(1) == link.group(2) and (ROOT / link.group(1)).exists(), notebook
        assert link.group(1).startswith(f"notebooks/{number}_")
        for module in re.findall(r"`([^`]+)`", modules):
            assert (ROOT / module).exists(), module
        for test in re.findall(r"`([^`]+)`", tests):
            assert (ROOT / test).exists(), test
        assert re.findall(r"`([^`]+)`", modules) and re.findall(r"`([^`]+)`", tests)


def test_readme_starts_with_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```", 2)[1]
    assert "make lab" in first_block and "make test" in first_block


def _normalize(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_equals_pyproject_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e ." in pip, "the conda environment installs the project itself (editable)"
    listed = sorted(map(_normalize, (p for p in pip if p != "-e .")))
    assert listed == sorted(map(_normalize, wanted))
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == [f"python{project['requires-python']}"]


def test_constraints_pin_every_dependency() -> None:
    pinned = {re.split(r"[=<>\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")
              for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith((" ", "#"))}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = re.split(r"[=<>\[ ;]", requirement, maxsplit=1)[0].lower()
        assert name in pinned, f"{name} is not pinned in constraints.txt (run make lock)"


# Rules of thumb a learner feels (issue 11): the story in markdown, short cells, outputs that fit
# on a screen, and a section on when the pattern costs more than it pays.
CODE_LINES, OUTPUT_LINES = 12, 30


def output_lines(cell: dict) -> int:
    """Lines a reader scrolls through under a cell (a plot counts as none)."""
    lines = 0
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            lines += len("".join(out["text"]).splitlines())
        elif out["output_type"] == "error":
            lines += len(out["traceback"])
        elif "image/png" not in out.get("data", {}):
            data = out.get("data", {})
            lines += len("".join(data.get("text/markdown") or data.get("text/plain") or "")
                         .splitlines())
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_carries_the_story_in_short_cells(path: Path) -> None:
    cells = load(path)["cells"]
    share = sum(c["cell_type"] == "markdown" for c in cells) / len(cells)
    assert share >= 0.5, f"markdown is {share:.0%} of the cells; at least half, please"
    for cell in code_cells({"cells": cells}):
        source = "".join(cell["source"]).strip()
        if "solution" not in cell.get("metadata", {}).get("tags", []):  # exercises are exempt
            assert len(source.splitlines()) <= CODE_LINES, f"a {len(source.splitlines())}-line " \
                f"code cell: {source[:60]!r}"
        assert output_lines(cell) <= OUTPUT_LINES, f"{output_lines(cell)} lines of output " \
            f"under {source[:60]!r}: more than a screen"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lesson_says_when_not_to_use_it(path: Path) -> None:
    markdown = "\n".join("".join(c["source"]) for c in load(path)["cells"]
                         if c["cell_type"] == "markdown")
    section = markdown.split("## When not to use it", 1)
    assert len(section) == 2, "no '## When not to use it' section"
    assert len(section[1].split("\n## ", 1)[0].split()) >= 40, "the trade-offs say too little"
