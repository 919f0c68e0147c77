"""The learner's workspace: lesson copies without answers or outputs, with hints and references.

    workspace.py sync                 copy what is missing, report lessons changed upstream
    workspace.py reset [--lesson NN]  a fresh copy of one lesson (or all); the old one is kept
    workspace.py student DIR          the learner copies for a trainer to hand out
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from fallback_stub import fallback_stub

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WORKSPACE = ROOT / "workspace"
REFERENCE_DIR = "reference"
LESSON_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")  # 08_caching.ipynb, not .old-… copies
RAISES = "raises-exception"  # JupyterLab's Run All goes on past a cell with this tag


class Refused(Exception):
    """A command that would lose or mix up work, refused with one line saying why."""


# --- which cells are what ------------------------------------------------------------------

def tags(cell: NotebookNode) -> list[str]:
    """The cell's tags (a new list)."""
    return list(cell.get("metadata", {}).get("tags", []))


def is_solution(cell: NotebookNode) -> bool:
    """Whether the cell holds an exercise's answer (tagged `solution`)."""
    return cell.cell_type == "code" and "solution" in tags(cell)


def check_cell_index(cells: list[NotebookNode], solution: int) -> int | None:
    """The check cell of the exercise at `solution`: the next code cell."""
    for index in range(solution + 1, len(cells)):
        if cells[index].cell_type == "code":
            return index
    return None


def lesson_number(path: Path) -> str | None:
    """'08' for 08_caching.ipynb; None for anything that is not a lesson copy."""
    match = LESSON_NAME.match(path.name)
    return match.group(1) if match else None


def lessons(folder: Path) -> list[Path]:
    """The lesson notebooks in a folder, in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if lesson_number(p))


def reference_path(workspace: Path, lesson: Path) -> Path:
    """Where the read-only reference copy of a lesson goes."""
    return workspace / REFERENCE_DIR / f"{lesson.stem} (reference).ipynb"


# --- the stub -----------------------------------------------------------------------------

def stub_of(cell: NotebookNode) -> str:
    """The stub the learner sees in place of the answer."""
    stub = cell.get("metadata", {}).get("workbook", {}).get("stub")
    return str(stub) if stub else fallback_stub(cell.source)


def hints_of(cell: NotebookNode) -> list[str]:
    """The exercise's hints (markdown), as the reference lesson stores them."""
    return [str(h) for h in cell.get("metadata", {}).get("workbook", {}).get("hints", [])]


# --- the copies ---------------------------------------------------------------------------

def lesson_hash(nb: NotebookNode) -> str:
    """sha256 of a lesson's cells without outputs: a re-execution alone does not change it."""
    cells = [{"type": c.cell_type, "source": c.source,
              "metadata": {k: v for k, v in c.get("metadata", {}).items() if k != "execution"}}
             for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


def hint_cell(number: int, count: int, text: str, check_id: str) -> NotebookNode:
    """A folded hint: its title shows, the hint itself is one click away."""
    title = f"Hint {number} of {count}" if count > 1 else "Hint"
    # <details> renders folded in JupyterLab, VS Code and GitHub alike; the blank lines let the
    # markdown inside render as markdown.
    source = (f"<details><summary><b>{title}</b> (click to unfold)</summary>\n\n"
              f"{text.strip()}\n\n</details>")
    return markdown(f"{check_id}-hint-{number}", source, {"hint": number})


def markdown(cell_id: str, source: str, workbook: dict[str, object]) -> NotebookNode:
    """A markdown cell the builder adds, with a fixed id: the same lesson gives the same copy."""
    cell = new_markdown_cell(source, metadata={"workbook": workbook})
    cell["id"] = cell_id[-64:]  # nbformat: at most 64 characters
    return cell


def clear_outputs(cell: NotebookNode) -> None:
    """No stored output and no execution count: the learner's predictions are real."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.get("metadata", {}).pop("execution", None)


def exercise_cell(cell: NotebookNode) -> NotebookNode:
    """The solution cell as the learner gets it: the stub, visible, still tagged `solution`."""
    metadata = copy.deepcopy(dict(cell.get("metadata", {})))
    jupyter = metadata.pop("jupyter", {})
    jupyter.pop("source_hidden", None)
    if jupyter:
        metadata["jupyter"] = jupyter
    metadata.pop("workbook", None)  # the stub is the source now; the hints become cells
    fresh = nbformat.v4.new_code_cell(stub_of(cell), metadata=metadata)
    if "id" in cell:
        fresh["id"] = cell["id"]
    return fresh


def checked_cell(cell: NotebookNode) -> NotebookNode:
    """The check cell, tagged to raise so Run All shows its failure and goes on."""
    fresh = copy.deepcopy(cell)
    fresh.metadata["tags"] = tags(cell) + ([RAISES] if RAISES not in tags(cell) else [])
    fresh.metadata.setdefault("workbook", {})["check"] = True
    return fresh


def header_cell(lesson: Path, with_reference: bool) -> NotebookNode:
    """The first line of a learner copy: what this file is, where the answers are."""
    text = ("*Your copy of this lesson: the exercise answers and the stored outputs are not "
            "here, so write the exercise and predict before you run.*")
    if with_reference:
        target = f"{REFERENCE_DIR}/{lesson.stem} (reference).ipynb"
        text += (f" *The reference, with answers and outputs, is "
                 f"[{target}]({target.replace(' ', '%20')}).*")
    return markdown("workbook-header", text, {"header": True})


def learner_copy(reference: NotebookNode, lesson: Path,
                 with_reference: bool = True) -> NotebookNode:
    """The lesson as a learner starts it: stubs, no outputs, checks that let Run All go on."""
    nb = copy.deepcopy(reference)
    cells: list[NotebookNode] = [header_cell(lesson, with_reference)]
    checks = {check_cell_index(nb.cells, i): nb.cells[i]
              for i, cell in enumerate(nb.cells) if is_solution(cell)}
    for index, cell in enumerate(nb.cells):
        if is_solution(cell):
            cells.append(exercise_cell(cell))
        elif index in checks:
            cells.append(checked_cell(cell))
            hints = hints_of(checks[index])
            check_id = str(cell.get("id", f"cell-{index}"))
            cells += [hint_cell(n, len(hints), text, check_id) for n, text in enumerate(hints, 1)]
        else:
            cells.append(copy.deepcopy(cell))
    for cell in cells:
        clear_outputs(cell)
    nb.cells = cells
    nb.metadata["workbook"] = {"reference_sha256": lesson_hash(reference)}
    return nb


def reference_copy(reference: NotebookNode, lesson: Path) -> NotebookNode:
    """The lesson with answers and outputs, named as the read-only reference it is."""
    nb = copy.deepcopy(reference)
    note = (f"**Reference copy** of {lesson.stem}, with the answers and outputs. `make lab` "
            f"rewrites it, so edits here are lost: your work goes in "
            f"[../{lesson.name}](../{lesson.name}).")
    nb.cells.insert(0, markdown("workbook-header", note, {"header": True}))
    return nb


def read(path: Path) -> NotebookNode:
    """A notebook, as nbformat 4."""
    return nbformat.read(path, as_version=4)


def write(nb: NotebookNode, path: Path) -> None:
    """Write a notebook, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def write_read_only(nb: NotebookNode, path: Path) -> None:
    """Write a reference copy when it changed, read-only (JupyterLab then will not save it)."""
    text = nbformat.writes(nb) + "\n"
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_text(text)
    path.chmod(0o444)


# --- the commands -------------------------------------------------------------------------

def recorded_hash(path: Path) -> str | None:
    """The reference hash a learner copy was made from (None when unreadable or unrecorded)."""
    try:
        value = read(path).metadata.get("workbook", {}).get("reference_sha256")
    except Exception:  # a copy the learner broke is theirs to keep; sync just cannot compare
        return None
    return str(value) if value else None


def sync(notebooks: Path = NOTEBOOKS, workspace: Path = WORKSPACE) -> list[str]:
    """Copy missing lessons, refresh the references, report lessons changed upstream."""
    said: list[str] = []
    copied: list[str] = []
    for lesson in lessons(notebooks):
        reference = read(lesson)
        mine = workspace / lesson.name
        if not mine.exists():
            write(learner_copy(reference, lesson), mine)
            copied.append(lesson.name)
        elif (recorded := recorded_hash(mine)) and recorded != lesson_hash(reference):
            said.append(f"{lesson.name}: the lesson changed upstream since your copy was made "
                        f"(yours is kept); for a fresh copy: make reset LESSON={lesson.name[:2]}")
        write_read_only(reference_copy(reference, lesson), reference_path(workspace, lesson))
    if len(copied) == 1:
        said.insert(0, f"{copied[0]}: copied into {workspace.name}/")
    elif copied:
        said.insert(0, f"{len(copied)} lessons copied into {workspace.name}/ (your copies: no "
                       f"answers, no outputs; the references are in {REFERENCE_DIR}/ beside them)")
    return said


def set_aside(path: Path) -> Path:
    """Rename a learner copy to NN_name.old-<timestamp>.ipynb; returns the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.old-{stamp}.ipynb")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.old-{stamp}-{n}.ipynb")
    path.rename(target)
    return target


def select(paths: Iterable[Path], lesson: str | None) -> list[Path]:
    """The lessons LESSON names (08, 8, 08_caching or several, comma- or space-separated)."""
    paths = list(paths)
    if not lesson:
        return paths
    wanted = {w.zfill(2) if w.isdigit() else w for w in re.split(r"[,\s]+", lesson.strip()) if w}
    return [p for p in paths if p.name[:2] in wanted or p.stem in wanted]


def reset(notebooks: Path = NOTEBOOKS, workspace: Path = WORKSPACE,
          lesson: str | None = None) -> list[str]:
    """A fresh learner copy of the chosen lessons; an existing copy is renamed, not deleted."""
    chosen = select(lessons(notebooks), lesson)
    if not chosen:
        raise Refused(f"no lesson {lesson} in {notebooks.name}/")
    said = []
    for path in chosen:
        mine = workspace / path.name
        kept = f"your old copy is now {set_aside(mine).name}" if mine.exists() else "there was none"
        write(learner_copy(read(path), path), mine)
        said.append(f"{path.name}: fresh copy in {workspace.name}/ ({kept})")
    sync(notebooks, workspace)  # the reference copies too
    return said


def student(destination: Path, notebooks: Path = NOTEBOOKS,
            with_reference: bool = False) -> list[str]:
    """Learner copies for a trainer to hand out; never writes over a file already there."""
    if destination.resolve() == notebooks.resolve():
        raise Refused(f"{destination} holds the reference lessons: choose another folder")
    paths = lessons(notebooks)
    taken = [destination / p.name for p in paths if (destination / p.name).exists()]
    if taken:
        raise Refused(f"{taken[0]} exists: choose an empty folder (nothing was written)")
    for path in paths:
        reference = read(path)
        write(learner_copy(reference, path, with_reference), destination / path.name)
        if with_reference:
            write_read_only(reference_copy(reference, path), reference_path(destination, path))
    extra = f", references in {REFERENCE_DIR}/" if with_reference else ", without the answers"
    return [f"{len(paths)} learner copies in {destination}{extra}"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="copy missing lessons; report lessons changed upstream")
    reset_parser = commands.add_parser("reset", help="a fresh copy of one lesson or all")
    reset_parser.add_argument("--lesson", default=os.environ.get("LESSON") or None)
    student_parser = commands.add_parser("student", help="learner copies for a trainer")
    student_parser.add_argument("dir", type=Path)
    student_parser.add_argument("--with-reference", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "sync":
            said = sync()
        elif args.command == "reset":
            said = reset(lesson=args.lesson)
        else:
            said = student(args.dir, with_reference=args.with_reference)
    except Refused as exc:
        print(exc, file=sys.stderr)
        return 1
    for line in said:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
