"""Re-execute notebooks top to bottom in a fresh kernel and store them with their outputs."""

from __future__ import annotations

import os
import site
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def machine_prefixes() -> list[tuple[str, str]]:
    """Paths that belong to this machine, longest first, with what a reader sees instead."""
    pairs = [(p + "/", "site-packages/") for p in site.getsitepackages()]
    pairs += [(str(ROOT) + "/", ""), (tempfile.gettempdir() + "/", "TMP/"),
              (os.path.expanduser("~") + "/", "~/")]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def scrub(nb: nbformat.NotebookNode) -> None:
    """Make tracebacks show project-relative paths: a stored notebook names no machine."""
    prefixes = machine_prefixes()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                lines = output["traceback"]
                for old, new in prefixes:
                    lines = [line.replace(old, new) for line in lines]
                output["traceback"] = lines


def coalesce_streams(cell: nbformat.NotebookNode) -> None:
    """One stdout output per run of prints: the kernel may flush a line in two chunks."""
    merged: list[nbformat.NotebookNode] = []
    for output in cell.get("outputs", []):
        last = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and last is not None
                and last.get("output_type") == "stream" and last.get("name") == output.get("name")):
            last["text"] = "".join(last["text"]) + "".join(output["text"])
        else:
            merged.append(output)
    if "outputs" in cell:
        cell["outputs"] = merged


# As JupyterLab writes it: a notebook stored with anything else is rewritten (and autosaved)
# the moment a learner opens it.
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
RAISES = "raises-exception"  # the tag JupyterLab's Run All and nbval both honour


def marked_to_raise(cell: nbformat.NotebookNode) -> bool:
    """Whether a cell is meant to fail (tagged, so Run All goes on past it)."""
    return RAISES in cell.get("metadata", {}).get("tags", [])


def run(path: Path) -> float:
    """Execute one notebook in place from its own folder; returns the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    started = time.perf_counter()
    # allow_errors: cells marked to raise keep their error output; nbval checks the rest.
    # record_timing=False: a re-execution's diff shows only what really changed.
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True, record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        coalesce_streams(cell)
    scrub(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - started


def main(paths: list[str]) -> int:
    if paths and paths[0] == "--scrub-only":  # fix stored notebooks without re-running them
        for name in paths[1:]:
            nb = nbformat.read(name, as_version=4)
            scrub(nb)
            nbformat.write(nb, name)
        return 0
    failed = []
    for name in paths:
        path = Path(name)
        seconds = run(path)
        nb = nbformat.read(path, as_version=4)
        errors = [c for c in nb.cells if c.cell_type == "code"
                  and any(o.output_type == "error" for o in c.get("outputs", []))
                  and not marked_to_raise(c)]
        problems = f"  ERRORS in {len(errors)} cell(s)" if errors else ""
        print(f"{path.name}: {seconds:.1f} s{problems}")
        if errors:
            failed.append(path.name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
