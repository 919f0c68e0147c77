"""One Celery app per Flask app: configured from app.config, its tasks run in the app context."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kombu
import kombu.transport
import redis
from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import before_task_publish
from flask import Flask, current_app
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, memory
from kombu.utils.json import dumps

from patterns.db import run_id
from patterns.structured_logging import bind_request_id, bind_task_id, current_request_id

EXTENSION = "celery"
MEMORY_TRANSPORT = "workbook-memory"
FILESYSTEM = "filesystem://"
FILESYSTEM_TRANSPORT = "workbook-filesystem"
_FOLDERS = {"data_folder_in": "messages", "data_folder_out": "messages",
            "control_folder": "control"}
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


class _ShortSlices:
    """Poll in short slices, so that a worker notices at once that it was asked to stop."""

    def drain_events(self, connection: Any, timeout: float | None = None, **_: Any) -> None:
        # The worker loop asks for 2 s slices and checks its stop flag between them: stopping
        # took about 4 s. Short slices cost a poll of memory or of a folder and make stopping
        # take ~0.1 s. (**_: the base signature; these transports take no other argument.)
        short = _WAKE_SECONDS if timeout is None else min(timeout, _WAKE_SECONDS)
        super().drain_events(connection, timeout=short)  # type: ignore[misc]


class FastMemoryTransport(_ShortSlices, memory.Transport):
    """kombu's in-memory transport (one process), polling in short slices."""


class AtomicFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, but a message file appears whole or not at all."""

    # (kombu's own stubs disagree on this signature: filesystem.Channel's is used here.)
    def _put(self, queue: str, payload: dict[str, Any],  # type: ignore[override]
             **kwargs: Any) -> None:
        # kombu creates `<time>_<uuid>.<queue>.msg` and then writes it. A worker polling the
        # folder can take the file in between, read nothing, and the message is gone: a task
        # that never runs (seen under load, 3 times in 20 runs of make test). Written under a
        # name no consumer reads (".part"), then renamed: a rename is atomic in one folder.
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        try:
            with open(final + ".part", "wb") as f:
                f.write(dumps(payload).encode())
            os.replace(final + ".part", final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FastFilesystemTransport(_ShortSlices, filesystem.Transport):
    """kombu's filesystem transport (processes of one machine), polling in short slices."""

    Channel = AtomicFilesystemChannel


for _alias, _cls in ((MEMORY_TRANSPORT, "FastMemoryTransport"),
                     (FILESYSTEM_TRANSPORT, "FastFilesystemTransport")):
    kombu.transport.TRANSPORT_ALIASES.setdefault(
        _alias, f"patterns.background_jobs.celery_app:{_cls}")


def broker_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Where messages and results go: in memory, a folder, Redis, or RabbitMQ (+ Redis)."""
    broker = config.get("BROKER_URL")
    if broker is None:  # in memory; the cache backend holds the results in this process
        return {"broker_url": f"{MEMORY_TRANSPORT}://", "result_backend": "cache+memory://",
                "broker_transport_options": {"polling_interval": 0.01}}
    if broker.startswith(FILESYSTEM):
        # kombu's filesystem transport: messages are files in a folder, so processes on one
        # machine share a broker that needs no server. filesystem:///abs/folder names it.
        folder = Path(broker.removeprefix(FILESYSTEM))
        folders = {key: str(folder / name) for key, name in _FOLDERS.items()}
        return {"broker_url": f"{FILESYSTEM_TRANSPORT}://",
                "result_backend": f"file://{folder / 'results'}",
                "broker_transport_options": folders | {"polling_interval": 0.02}}
    if broker.startswith(("amqp://", "pyamqp://")):
        # RabbitMQ stores no results: they go to Redis when the app has one, else back over
        # AMQP to the caller that sent the task (rpc://).
        return {"broker_url": broker, "result_backend": config.get("REDIS_URL") or "rpc://",
                "broker_transport_options": {}}
    return {"broker_url": broker, "result_backend": broker, "broker_transport_options": {}}


def celery_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Celery settings from the Flask app's settings (BROKER_URL None means in-memory)."""
    return {
        **broker_settings(config),
        "task_default_queue": config["JOBS_QUEUE"],
        # Acknowledge a message when its task has finished, not when it starts, and hand it back
        # to the broker if the process running it dies: a killed worker loses no task.
        # Celery acks a lost task by default on purpose: a task that itself kills its worker
        # (memory, a crashing C extension) now comes back forever. Bound it in production:
        # worker_max_memory_per_child, time limits, an alarm on WorkerLostError (or, Celery
        # 5.7+, task_retry_on_worker_lost, which counts such redeliveries against max_retries).
        "task_acks_late": bool(config.get("JOBS_ACKS_LATE", True)),
        "task_reject_on_worker_lost": True,
        # How long the worker waits for a result a killed pool child may still have sent
        # before it declares the task lost (Celery's default: 10 s).
        "worker_lost_wait": float(config.get("JOBS_LOST_WAIT", 10.0)),
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
    make_folders(celery_app)
    celery_app.set_default()
    app.extensions[EXTENSION] = celery_app
    return celery_app


def make_folders(celery_app: Celery) -> None:
    """Create the folders a filesystem broker and file result backend expect to exist."""
    if celery_app.conf.broker_url == f"{FILESYSTEM_TRANSPORT}://":
        options = celery_app.conf.broker_transport_options
        for key in _FOLDERS:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
        Path(celery_app.conf.result_backend.removeprefix("file://")).mkdir(exist_ok=True)


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


def sending_celery(name: str, config: Mapping[str, Any]) -> Celery:
    """A Celery app that only sends, to the broker in config (it never becomes the default)."""
    client = Celery(f"{name}-client", set_as_current=False)
    client.config_from_object(celery_config(config))
    make_folders(client)
    return client


def forget_queue(broker_url: str, queue: str) -> None:
    """Remove a private queue from the broker (kombu leaves it, and Redis its bindings, behind)."""
    if broker_url.startswith(("amqp://", "pyamqp://")):
        with contextlib.suppress(Exception), kombu.Connection(broker_url) as connection:
            kombu.Queue(queue).bind(connection.default_channel).delete()
        return
    if not broker_url.startswith(("redis://", "rediss://")):
        return
    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(broker_url) as client:
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        # Messages a killed worker held unacknowledged wait in one hash for visibility_timeout,
        # then go back to their queue: forget this queue's, or they come back to no one.
        for tag, entry in client.hscan_iter("unacked"):
            if json.loads(entry)[2] == queue:  # [message, exchange, routing key]
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
