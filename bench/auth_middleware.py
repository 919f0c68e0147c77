"""auth.cases and auth.bypasses: the lesson-04 attack matrix against a fresh app."""

from __future__ import annotations

from evidence.auth_middleware import attack_matrix, matrix_figures
from evidence.lab import lesson_app
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, int]:
    """Every forged, expired or misused credential of the matrix; how many reached the action."""
    app = lesson_app(rows=20)
    try:
        return matrix_figures(attack_matrix(app))
    finally:
        get_db(app).close()
