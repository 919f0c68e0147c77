"""errors.problem_json_share: every error path of lesson 09 in the one problem+json shape."""

from __future__ import annotations

from evidence.error_handling import error_paths, problem_json_share
from evidence.lab import lesson_app
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """The share of error answers with the right status and the one shape, and how many paths."""
    app = lesson_app(rows=20)
    try:
        results = error_paths(app)
    finally:
        get_db(app).close()
    return {"errors.problem_json_share": problem_json_share(results),
            "errors.paths": len(results)}
