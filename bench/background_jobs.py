"""Background-job figures: enqueue-to-result round trip, retries, tasks lost to a killed worker."""

from __future__ import annotations

from typing import Any

from evidence.background_jobs import lost_on_worker_kill, retried_attempts, roundtrip_ms
from evidence.lab import lesson_app
from patterns.background_jobs import start_worker
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, Any]:
    """jobs.* figures; the worker-kill ones need a real broker (WORKBOOK_BROKER_URL)."""
    app = lesson_app(rows=20, JOBS_RETRY_BASE=0.01)
    out: dict[str, Any] = {}
    try:
        worker = start_worker(app)
        try:
            out["jobs.roundtrip_ms"] = round(roundtrip_ms(app, rounds=20 if quick else 100), 2)
            out["jobs.retries_observed"] = retried_attempts(app, 1, failures=2) - 1
        finally:
            worker.stop()
        if app.config.get("BROKER_URL"):
            tasks = 10 if quick else 20
            out["jobs.lost_on_worker_kill"] = lost_on_worker_kill(app, tasks=tasks)
            out["jobs.lost_on_worker_kill_early_ack"] = lost_on_worker_kill(
                app, tasks=tasks, acks_late=False)
            out["jobs.lost_on_worker_kill_tasks"] = tasks
        else:
            # Killing a pool child needs a worker process, and that needs a real broker.
            out["jobs.lost_on_worker_kill_skipped"] = 1
    finally:
        get_db(app).close()
    return out
