"""Caching figures: stampede protection, hit against miss latency, stale reads after writes."""

from __future__ import annotations

from evidence.caching import STRATEGIES, hit_speedup, stale_read_trial, stampede_trial
from evidence.lab import lesson_app
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """cache.* figures, measured on a fresh seeded app (embedded or real, as configured)."""
    app = lesson_app(rows=100)
    try:
        miss, hit = hit_speedup(app, requests=100 if quick else 500)
        ops = 300 if quick else 2000
        stale = {s: stale_read_trial(app, ops=ops, seed=7, strategy=s) for s in STRATEGIES}
        return {
            "cache.stampede_recomputes": stampede_trial(app, 50, protect=True),
            "cache.stampede_recomputes_unprotected": stampede_trial(app, 50, protect=False),
            "cache.hit_speedup": round(miss / hit, 2),
            "cache.miss_ms": round(miss, 3),
            "cache.hit_ms": round(hit, 3),
            "cache.stale_reads": stale[STRATEGIES[2]].stale,
            "cache.stale_reads_delete_only": stale[STRATEGIES[1]].stale,
            "cache.stale_reads_no_invalidation": stale[STRATEGIES[0]].stale,
            "cache.stale_reads_checked": stale[STRATEGIES[2]].reads,
        }
    finally:
        get_db(app).close()
