"""rest.*: the REST lesson's status-code contract, measured against a fresh app."""

from __future__ import annotations

from evidence.lab import lesson_app, token_headers
from evidence.rest_api import status_code_checks
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """rest.status_codes_correct: the share of contract checks that hold (1.0 expected)."""
    app = lesson_app(rows=20)
    try:
        checks = status_code_checks(app.test_client(), token_headers(app))
    finally:
        get_db(app).close()
    return {"rest.status_codes_correct": sum(checks.values()) / len(checks),
            "rest.status_code_checks": len(checks)}
