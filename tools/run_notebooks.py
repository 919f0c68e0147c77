"""Re-execute notebooks top to bottom in a fresh kernel and store them with their outputs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def run(path: Path) -> float:
    """Execute one notebook in place from its own folder; returns the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    started = time.perf_counter()
    # allow_errors: cells marked to raise keep their error output; nbval checks the rest.
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - started


def main(paths: list[str]) -> int:
    failed = []
    for name in paths:
        path = Path(name)
        seconds = run(path)
        nb = nbformat.read(path, as_version=4)
        errors = [c for c in nb.cells if c.cell_type == "code"
                  and any(o.output_type == "error" for o in c.get("outputs", []))
                  and "NBVAL_RAISES_EXCEPTION" not in c.source]
        problems = f"  ERRORS in {len(errors)} cell(s)" if errors else ""
        print(f"{path.name}: {seconds:.1f} s{problems}")
        if errors:
            failed.append(path.name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
