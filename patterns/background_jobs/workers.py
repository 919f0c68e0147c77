"""Workers: a real one in a thread over the in-memory broker, or a process on the real broker."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any, cast

from celery import Celery
from celery import result as celery_result
from celery.contrib.testing.worker import TestWorkController
from celery.utils import timer2
from celery.utils.nodenames import anon_nodename
from celery.worker import state as worker_state
from flask import Flask

from patterns.background_jobs.celery_app import forget_queue, get_celery, sending_celery
from patterns.background_jobs.tasks import jobs_ping
from patterns.caching import get_cache
from patterns.db import get_db
from patterns.structured_logging import capture_logs

ENV_WORKER_CONFIG = "WORKBOOK_WORKER_CONFIG"
# The app settings a worker process needs to reach the same rows, cache and queue.
_SHARED_SETTINGS = ("REDIS_URL", "BROKER_URL", "SECRET_KEY", "JOBS_RETRY_BASE", "JOBS_RETRY_CAP",
                    "JOBS_ACKS_LATE", "JOBS_LOST_WAIT", "SEARCH_MIN_SCORE")


class EmbeddedWorker:
    """A real Celery worker (consumer, pool, acknowledgements) in a thread of this process."""

    def __init__(self, app: Flask, *, quiet: bool | None = None) -> None:
        self.app = app
        self.celery: Celery = get_celery(app)
        # In a lesson, a worker's log line would land in whichever cell happens to be running.
        self.quiet = app.testing if quiet is None else quiet
        self._controller: TestWorkController | None = None
        self._thread: threading.Thread | None = None
        self._celery_logger = logging.getLogger("celery")
        self._saved_logging = (self._celery_logger.propagate, self._celery_logger.level)

    def start(self) -> EmbeddedWorker:
        """Start consuming the app's queue; returns once the worker is ready."""
        # celery.contrib.testing.worker.start_worker, minus its logging setup (which would
        # reconfigure the root logger of the whole process).
        if self.quiet:
            self._celery_logger.propagate = False
            self._celery_logger.setLevel(logging.CRITICAL)
        self.celery.finalize()
        self._controller = TestWorkController(
            app=self.celery, concurrency=1, hostname=anon_nodename(), pool="solo",
            loglevel="CRITICAL" if self.quiet else "WARNING", logfile=None, ready_callback=None,
            without_heartbeat=True, without_mingle=True, without_gossip=True,
            timer_cls=_timer_for(self.celery))
        self._thread = threading.Thread(target=self._run, daemon=True, name="celery-worker")
        self._thread.start()
        self._controller.ensure_started()
        # Its pool makes result.get() raise in the whole process (a task must never wait for
        # another); the caller's threads are no tasks: undo it, as celery.contrib.testing does.
        # cast: celery-types does not declare this private helper.
        cast(Any, celery_result)._set_task_join_will_block(False)
        return self

    def _run(self) -> None:
        # The worker looks tasks up in the thread's *current* Celery app, which otherwise is the
        # process default: the app created last, maybe another test's, with another database.
        self.celery.set_current()
        assert self._controller is not None
        self._controller.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the task in hand and stop (about 0.1 s when idle)."""
        if self._thread is None:
            return
        # The flag the worker loop checks between polls, holding the exit code (celery's own
        # start_worker stops its thread so). cast: celery-types declares the flag as None only.
        flags = cast(Any, worker_state)
        flags.should_terminate = 0
        self._thread.join(timeout)
        flags.should_terminate = None
        self._thread = self._controller = None
        self._celery_logger.propagate, level = self._saved_logging[0], self._saved_logging[1]
        self._celery_logger.setLevel(level)

    @contextlib.contextmanager
    def capture_logs(self) -> Iterator[list[str]]:
        """The JSON log lines written while the block runs (the tasks run in this process)."""
        with capture_logs() as lines:
            yield lines

    def __enter__(self) -> EmbeddedWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _timer_for(celery_app: Celery) -> type[timer2.Timer]:
    """The worker's timer thread (it runs retries when their countdown ends), bound to one app."""

    class AppTimer(timer2.Timer):
        def run(self) -> None:
            celery_app.set_current()  # see EmbeddedWorker._run
            super().run()

    return AppTimer


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # nbval kills notebook kernels with SIGKILL: without this the worker would outlive them.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def worker_config(app: Flask, **overrides: Any) -> dict[str, Any]:
    """What a worker process needs to serve this app: the same database, cache and queue."""
    db = get_db(app)
    assert db.engine is not None
    config = {key: app.config.get(key) for key in _SHARED_SETTINGS if key in app.config}
    config |= {
        # The file of an embedded SQLite database, or the server; the scratch schema by name.
        "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "DATABASE_SCHEMA": db.schema or app.config.get("DATABASE_SCHEMA"),
        "DATABASE_ISOLATED": False,
        "CACHE_NAMESPACE": get_cache(app).namespace,
        "JOBS_QUEUE": get_celery(app).conf.task_default_queue,
        "DEMO_ROWS": 0,
    }
    return config | overrides


class WorkerProcess:
    """`celery worker` as a separate process on a broker it can reach, serving this app's queue."""

    def __init__(self, app: Flask, *, pool: str = "solo", concurrency: int = 1,
                 loglevel: str = "WARNING", **overrides: Any) -> None:
        self.app = app
        self.config = worker_config(app, **overrides)
        if self.config.get("BROKER_URL") is None:
            raise RuntimeError("a worker process needs a broker it can reach: set "
                               "WORKBOOK_BROKER_URL, or pass BROKER_URL='filesystem:///folder'")
        self.queue: str = self.config["JOBS_QUEUE"]
        self.pool, self.concurrency, self.loglevel = pool, concurrency, loglevel
        # The app's own Celery sends to its broker; another broker needs a client of its own.
        self.celery = (get_celery(app) if self.config["BROKER_URL"] == app.config.get("BROKER_URL")
                       else sending_celery(app.name, self.config))
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="workbook-worker-", suffix=".log")
        self._kept: list[str] = []

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        """Start the process and wait until it has answered a task."""
        return self.launch().wait_ready(timeout)

    def launch(self) -> WorkerProcess:
        """Start the process; return at once (several workers can start side by side)."""
        env = os.environ | {ENV_WORKER_CONFIG: json.dumps(self.config)}
        self.process = subprocess.Popen(
            self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent)
        return self

    def wait_ready(self, timeout: float = 60.0) -> WorkerProcess:
        """Wait until the launched process has answered a task."""
        ping = self.celery.send_task(jobs_ping.name, ("ready",), queue=self.queue)
        try:
            ping.get(timeout=timeout)
        except Exception as exc:
            self.stop()
            raise RuntimeError(
                f"the worker did not answer within {timeout} s:\n{self.log()}") from exc
        return self

    @property
    def command(self) -> list[str]:
        """The command line that starts the worker."""
        return [sys.executable, "-m", "patterns.worker", f"--pool={self.pool}",
                f"--concurrency={self.concurrency}", f"--loglevel={self.loglevel}"]

    @property
    def pid(self) -> int | None:
        """The worker's main process id (None unless started)."""
        return None if self.process is None else self.process.pid

    def log(self) -> str:
        """The worker's output so far (for failures)."""
        return "\n".join(self.log_lines())[-4000:]

    def log_lines(self) -> list[str]:
        """Every line the worker has written (stdout and stderr), also once it has stopped."""
        if self._log.closed:
            return self._kept
        with open(self._log.name, errors="replace") as f:
            return f.read().splitlines()

    @contextlib.contextmanager
    def capture_logs(self) -> Iterator[list[str]]:
        """The JSON log lines the process writes while the block runs (wait for results inside)."""
        lines: list[str] = []
        with open(self._log.name, "rb") as f:
            start = f.seek(0, os.SEEK_END)
        try:
            yield lines
        finally:
            with open(self._log.name, "rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
            # The process logs one JSON object per line to stderr; Celery's own lines are text.
            lines.extend(line for line in text.splitlines() if line.startswith("{"))

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (finish the tasks in hand), then remove the queue from the broker."""
        self.terminate()
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.app.testing:  # a private queue; a production queue keeps its pending tasks
            forget_queue(self.config["BROKER_URL"], self.queue)
        self._kept = self.log_lines()
        self._log.close()

    def terminate(self) -> None:
        """Ask for a warm shutdown without waiting (stop() waits)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_worker(app: Flask) -> EmbeddedWorker | WorkerProcess:
    """A running worker for the app: in-process when embedded, a process on a real broker."""
    if app.config.get("BROKER_URL") is None:
        return EmbeddedWorker(app).start()
    return WorkerProcess(app).start()
