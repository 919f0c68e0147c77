"""Lesson 11's evidence: round trip, retries, and tasks lost when a worker child is killed."""

from __future__ import annotations

import itertools
import os
import secrets
import signal
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from flask import Flask

from evidence.background_jobs_exercise import check_house_position
from evidence.timing import Clock, median_ms
from patterns.background_jobs.celery_app import get_celery
from patterns.background_jobs.tasks import index_market, jobs_ping, jobs_probe
from patterns.background_jobs.workers import WorkerProcess
from patterns.caching import get_cache

__all__ = ["check_house_position", "lost_on_worker_kill", "retried_attempts", "roundtrip_ms",
           "run_task"]

RESULT_TIMEOUT = 30.0
_POLL = 0.002  # result polling of the in-memory backend; the Redis backend is pushed


def run_task(app: Flask, task: Task, *args: Any, **kwargs: Any) -> Any:
    """Send a task through the broker to the running worker and wait for its result."""
    result = get_celery(app).tasks[task.name].apply_async(args, kwargs)
    return result.get(timeout=RESULT_TIMEOUT, interval=_POLL)


def roundtrip_ms(app: Flask, rounds: int = 20, *, clock: Clock = time.perf_counter) -> float:
    """Median milliseconds from enqueue to result for a task that does nothing."""
    run_task(app, jobs_ping, "warm-up")
    numbers = itertools.count()

    def one_round() -> None:
        number = next(numbers)
        assert run_task(app, jobs_ping, number) == number

    return median_ms(one_round, rounds, clock=clock)


def retried_attempts(app: Flask, market_id: int, failures: int = 2) -> int:
    """How many attempts index_market needed when its first `failures` attempts fail transiently."""
    return run_task(app, index_market, market_id, fail_first=failures)["attempts"]


def lost_on_worker_kill(app: Flask, *, tasks: int = 10, acks_late: bool = True,
                        hold: float = 0.5, settle: float = 3.0) -> int:
    """Kill the pool child running a task mid-way (SIGKILL); how many of `tasks` never finish.

    Needs a real broker: a prefork worker process with 2 children serves a private queue.
    """
    run = secrets.token_hex(4)
    queue = f"{get_celery(app).conf.task_default_queue}-ack-{run}"
    cache = get_cache(app)
    started_key, done_key = (cache.full_key(f"probe:{run}:{k}") for k in ("started", "done"))
    broker = redis.Redis.from_url(app.config["BROKER_URL"])
    worker = WorkerProcess(app, pool="prefork", concurrency=2, JOBS_QUEUE=queue,
                           JOBS_ACKS_LATE=acks_late)
    try:
        worker.start()
        probe = get_celery(app).tasks[jobs_probe.name]
        for number in range(tasks):
            probe.apply_async((run, number, hold), queue=queue)
        _wait(lambda: cache.client.llen(started_key) > 0, RESULT_TIMEOUT)
        first = cache.client.lindex(started_key, 0)
        assert first is not None, "no task started"
        victim = int(_text(first).split(":")[1])
        assert victim != worker.pid, "tasks must run in pool children"
        os.kill(victim, signal.SIGKILL)
        # Wait for every task to finish, or for the queue to be empty and nothing to move.
        last, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 120
        while time.monotonic() < deadline:
            done = cache.client.scard(done_key)
            if done == tasks:
                break
            if done != last or broker.llen(queue):
                last, quiet_since = done, time.monotonic()
            elif time.monotonic() - quiet_since > settle + hold:
                break
            time.sleep(0.05)
        return tasks - int(cache.client.scard(done_key))
    finally:
        worker.stop()
        cache.client.delete(started_key, done_key)
        broker.close()


def _text(value: bytes | str) -> str:
    # redis-py answers bytes (the cache's client does not decode), typed as either.
    return value.decode() if isinstance(value, bytes) else value


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not hold in time")
        time.sleep(0.01)
