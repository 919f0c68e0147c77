"""n_plus_one.*: statements at N = 100 per loading strategy, and the time ratio at N = 1,000."""

from __future__ import annotations

from evidence import n_plus_one as trials
from evidence.lab import lesson_app
from patterns import n_plus_one as npo
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """Lazy, joinedload and selectinload statements at N = 100; lazy/joined seconds at N = 1,000."""
    timed_n = 300 if quick else 1_000
    app = lesson_app(rows=timed_n)
    db = get_db(app)
    try:
        counts = {s: trials.statements(db.new_session, 100, s) for s in npo.STRATEGIES}
        ratio = trials.n_plus_one_speedup(db.new_session, n=timed_n, repeat=5)
        api = {limit: trials.api_statements(app.test_client(), limit) for limit in (5, 100)}
    finally:
        db.close()
    return {
        "n_plus_one.n": 100,
        "n_plus_one.lazy_queries": counts["lazy"],
        "n_plus_one.joined_queries": counts["joined"],
        "n_plus_one.selectin_queries": counts["selectin"],
        "n_plus_one.speedup_n": timed_n,
        "n_plus_one.speedup": round(ratio.speedup, 2),
        "n_plus_one.api_queries_limit_5": api[5],
        "n_plus_one.api_queries_limit_100": api[100],
    }
