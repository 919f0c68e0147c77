"""Background-job figures: round trip against an eager call, retries, tasks lost to a kill."""

from __future__ import annotations

from typing import Any

from evidence.background_jobs import (
    eager_ms,
    retried_attempts,
    roundtrip_ms,
    worker_death_trial,
    worker_kill_trials,
)
from evidence.lab import lesson_app
from patterns.background_jobs import start_worker
from patterns.db import get_db

DEATH_WINDOW = 5.0  # seconds a new worker is given to finish what a killed one held


def figures(quick: bool = False) -> dict[str, Any]:
    """jobs.* figures on the configured broker (a folder broker for the worker-kill ones when
    embedded: killing a pool child needs a worker process, which the in-memory broker cannot
    reach)."""
    app = lesson_app(rows=20, JOBS_RETRY_BASE=0.01)
    out: dict[str, Any] = {}
    try:
        worker = start_worker(app)
        try:
            rounds = 20 if quick else 100
            broker, eager = roundtrip_ms(app, rounds=rounds), eager_ms(app, rounds=rounds)
            out["jobs.roundtrip_ms"] = round(broker, 2)
            out["jobs.roundtrip_vs_eager"] = round(broker / eager, 1)
            out["jobs.retries_observed"] = retried_attempts(app, 1, failures=2) - 1
        finally:
            worker.stop()
        tasks = 6 if quick else 10
        early, late = worker_kill_trials(app, tasks=tasks)
        out["jobs.lost_on_worker_kill"] = late.lost
        out["jobs.lost_on_worker_kill_early_ack"] = early.lost
        out["jobs.lost_on_worker_kill_tasks"] = tasks
        out["jobs.lost_on_worker_kill_broker"] = late.broker
        out["jobs.lost_on_worker_kill_skipped"] = 0  # published name; measured on every broker now
        death = worker_death_trial(app, tasks=tasks, window=DEATH_WINDOW)
        out["jobs.unfinished_after_worker_death"] = death.lost
        out["jobs.worker_death_window_s"] = DEATH_WINDOW
    finally:
        get_db(app).close()
    return out
