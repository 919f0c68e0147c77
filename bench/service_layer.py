"""service.*: the service's use cases on the fake unit of work against the same on the database."""

from __future__ import annotations

from evidence.lab import lesson_app
from evidence.service_layer import commits_per_use_case, fake_vs_database
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """service.fake_speedup: a unit test's worth of use cases (3 creates, a search, an update, a
    delete) on the configured database vs. on the fake unit of work (median time ratio);
    service.write_commits / service.idle_commits: commits the fake counts for the four writes
    (one each: 4) and for the reads and the writes to a missing id (none: 0)."""
    counts = commits_per_use_case()
    app = lesson_app(rows=100)
    try:
        ratio = fake_vs_database(app, repeat=5 if quick else 20)
    finally:
        get_db(app).close()
    idle = ("get_all", "search_markets", "update a missing id", "delete a missing id")
    return {
        "service.fake_speedup": round(ratio.speedup, 1),
        "service.write_commits": sum(v for k, v in counts.items() if k not in idle),
        "service.idle_commits": sum(counts[k] for k in idle),
    }
