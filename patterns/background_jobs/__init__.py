"""Background jobs with Celery: one Celery app bound to Flask, tasks that take ids, run in the
app context and are enqueued after the commit; a worker in-process or on a real broker."""

from __future__ import annotations

from flask import Flask

from patterns.background_jobs.celery_app import (
    BEAT_SCHEDULE,
    celery_init_app,
    default_queue,
    get_celery,
)
from patterns.background_jobs.tasks import (
    JOB_TRANSIENT,
    cleanup_expired_markets,
    close_expired_markets,
    enqueue_after_commit,
    index_market,
    jobs_ping,
    jobs_probe,
    listen_for_commits,
)
from patterns.background_jobs.transient import (
    TransientDatabaseError,
    is_transient,
    listen_for_transient_errors,
)
from patterns.background_jobs.workers import (
    EmbeddedWorker,
    WorkerProcess,
    start_worker,
    worker_config,
)
from patterns.db import get_db

__all__ = [
    "BEAT_SCHEDULE", "JOB_TRANSIENT", "EmbeddedWorker", "WorkerProcess", "celery_init_app",
    "cleanup_expired_markets", "close_expired_markets", "enqueue_after_commit", "get_celery",
    "TransientDatabaseError", "index_market", "init_app", "is_transient", "jobs_ping",
    "jobs_probe", "start_worker", "worker_config",
]


def init_app(app: Flask) -> None:
    """Bind Celery to the app and send queued tasks after commits (create_app mounts the routes)."""
    app.config["JOBS_QUEUE"] = default_queue(app)
    celery_init_app(app)
    db = get_db(app)
    assert db.engine is not None
    listen_for_transient_errors(db.engine)  # JOB_TRANSIENT catches what a retry can fix
    # Both factories: POST/PUT/DELETE requests and new_session(write=True) use the writer's.
    for factory in (db.sessionmaker, db.write_sessionmaker):
        assert factory is not None, "the database extension is initialised before the jobs"
        listen_for_commits(factory)
