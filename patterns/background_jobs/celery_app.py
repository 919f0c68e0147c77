"""One Celery app per Flask app: configured from app.config, its tasks run in the app context."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import kombu.transport
from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import before_task_publish
from flask import Flask, current_app
from kombu.transport import memory

from patterns.db import run_id
from patterns.structured_logging import bind_request_id, bind_task_id, current_request_id

EXTENSION = "celery"
MEMORY_TRANSPORT = "workbook-memory"
# The message header that carries the id of the request (or job) that enqueued a task.
REQUEST_ID_HEADER = "request_id"
# How often an idle embedded worker wakes to see whether it was asked to stop.
_WAKE_SECONDS = 0.05

# What beat sends, and when: one entry per periodic task.
BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "cleanup-expired-markets": {
        "task": "patterns.cleanup_expired_markets",
        "schedule": crontab(minute="*/15"),
    },
}


class FastMemoryTransport(memory.Transport):
    """kombu's in-memory transport, polling in short slices so an embedded worker stops at once."""

    def drain_events(self, connection: Any, timeout: float | None = None, **_: Any) -> None:
        # The worker loop asks for 2 s slices and checks its stop flag between them: stopping
        # took about 4 s. Short slices cost nothing in memory and make stop() take ~0.1 s.
        # (**_: the base Transport's signature; the in-memory one takes no other argument.)
        short = _WAKE_SECONDS if timeout is None else min(timeout, _WAKE_SECONDS)
        super().drain_events(connection, timeout=short)


kombu.transport.TRANSPORT_ALIASES.setdefault(
    MEMORY_TRANSPORT, "patterns.background_jobs.celery_app:FastMemoryTransport")


def celery_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery settings from the Flask app's settings (BROKER_URL None means in-memory)."""
    broker = config.get("BROKER_URL")
    embedded = broker is None
    return {
        "broker_url": f"{MEMORY_TRANSPORT}://" if embedded else broker,
        # Results next to the broker; in memory, the cache backend holds them in this process.
        "result_backend": "cache+memory://" if embedded else broker,
        "broker_transport_options": {"polling_interval": 0.01} if embedded else {},
        "task_default_queue": config["JOBS_QUEUE"],
        # Acknowledge a message when its task has finished, not when it starts, and hand it back
        # to the broker if the process running it dies: a killed worker loses no task.
        "task_acks_late": bool(config.get("JOBS_ACKS_LATE", True)),
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # with late acks, do not hoard messages others could run
        "task_track_started": True,  # PENDING → STARTED → SUCCESS, visible in GET /api/tasks/<id>
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],  # never pickle: a message must not be able to run code
        "result_expires": 3600,
        "timezone": "UTC",
        "beat_schedule": BEAT_SCHEDULE,
        "worker_hijack_root_logger": False,
        "worker_enable_remote_control": False,  # no broadcast queues to leave behind
        "broker_connection_retry_on_startup": True,
    }


@before_task_publish.connect(dispatch_uid="workbook-request-id")
def send_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every task sent inside a request (or a job) carries its id in a message header."""
    request_id = current_request_id()
    if headers is not None and request_id is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)  # an explicit header wins


def celery_init_app(app: Flask) -> Celery:
    """Flask's documented pattern: a Celery app whose tasks run inside this Flask app's context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            # The header sent along (or, run eagerly, the request at hand) and this run's id:
            # every line the task logs joins the request that asked for it.
            request_id = getattr(self.request, REQUEST_ID_HEADER, None) or current_request_id()
            with bind_request_id(request_id), bind_task_id(self.request.id), app.app_context():
                return self.run(*args, **kwargs)

    celery_app: Celery = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.config))
    celery_app.set_default()
    app.extensions[EXTENSION] = celery_app
    return celery_app


def default_queue(app: Flask) -> str:
    """The app's queue: shared in production, private to one app in tests and lessons."""
    if app.config.get("JOBS_QUEUE"):
        return app.config["JOBS_QUEUE"]
    # The in-memory broker is global to the process, and the real one is shared by every run:
    # a worker must never take a task that belongs to another app's database.
    return f"workbook-{run_id()}-{secrets.token_hex(4)}" if app.testing else "workbook"


def get_celery(app: Flask | None = None) -> Celery:
    """The Celery app bound to the given (or current) Flask app."""
    return (app or current_app).extensions[EXTENSION]
