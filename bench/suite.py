"""Figures about the workbook itself."""

from __future__ import annotations

from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def figures(quick: bool = False) -> dict[str, int]:
    """suite.notebooks: how many lesson notebooks exist."""
    return {"suite.notebooks": len(sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))}
