"""api.fuzz_*: Schemathesis cases against the whole API, all its checks run on every answer."""

from __future__ import annotations

from evidence.lab import lesson_app
from evidence.openapi import fuzz
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, int]:
    """api.fuzz_cases (cases sent), api.fuzz_server_errors, api.fuzz_schema_mismatches."""
    app = lesson_app(rows=40)
    try:
        return fuzz(app, 1000 if quick else 2000).figures()
    finally:
        get_db(app).close()
