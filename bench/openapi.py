"""api.fuzz_*: generated requests against the whole API, each answer checked against its spec."""

from __future__ import annotations

from evidence.lab import lesson_app
from evidence.openapi import fuzz
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, int]:
    """api.fuzz_cases (requests sent), api.fuzz_server_errors, api.fuzz_schema_mismatches."""
    app = lesson_app(rows=100)
    try:
        return fuzz(app, 1000 if quick else 2000).figures()
    finally:
        get_db(app).close()
