"""The tasks: ids as arguments, run in the app context, retried on transient errors only."""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime
from typing import Any, cast

import redis
from celery import Task, shared_task, uuid
from celery.result import AsyncResult
from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from patterns.background_jobs.celery_app import get_celery
from patterns.background_jobs.transient import TransientDatabaseError
from patterns.db import get_db, get_session
from patterns.markets import invalidate_market, market_service
from patterns.models import Market, MarketStatus
from patterns.retry_backoff import TRANSIENT, Backoff, TransientError
from patterns.semantic_search import SqlEmbeddingStore, market_search

# Worth another attempt: the database or Redis dropped a connection, a transaction lost a race
# or waited for a lock, a service was busy. A bug (TypeError), a missing table (also an
# OperationalError on SQLite) or a missing market is not: it fails, or answers, at once.
# cast: each is an Exception, as Celery's retry(exc=...) wants; lesson 10 types TRANSIENT wider.
JOB_TRANSIENT = cast(tuple[type[Exception], ...], (
    *TRANSIENT, TransientDatabaseError, redis.ConnectionError, redis.TimeoutError))
MAX_RETRIES = 5
_jitter = random.Random()
log = logging.getLogger(__name__)


def _countdown(retries: int) -> float:
    """Seconds before the next attempt: lesson 10's full-jitter backoff, sized by app config."""
    backoff = Backoff(base=float(current_app.config.get("JOBS_RETRY_BASE", 1.0)),
                      cap=float(current_app.config.get("JOBS_RETRY_CAP", 60.0)))
    return backoff.delay(retries, _jitter)


@shared_task(bind=True, name="patterns.index_market", max_retries=MAX_RETRIES)
def index_market(self: Task, market_id: int, fail_first: int = 0) -> dict[str, Any]:
    """Make the search index agree with the database for one market (idempotent)."""
    try:
        if self.request.retries < fail_first:  # lessons and tests inject transient failures
            raise TransientError(f"injected failure {self.request.retries + 1} of {fail_first}")
        indexed = market_service().index_for_search(market_id)
    except JOB_TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=_countdown(self.request.retries)) from None
    log.info("market indexed", extra={"market_id": market_id, "indexed": indexed})
    # Counted in the table that every process searches, not in this worker's cache.
    model, store = market_search().model, SqlEmbeddingStore(get_session())
    return {"market_id": market_id, "indexed": indexed, "attempts": self.request.retries + 1,
            "entries_for_market": store.count(model, market_id), "index_size": store.count(model)}


def close_expired_markets(session: Session, now: datetime) -> list[int]:
    """Close the active markets whose closing time has passed; returns their ids (not committed)."""
    expired = (Market.status == MarketStatus.ACTIVE) & (Market.closes_at <= now)
    ids = list(session.scalars(select(Market.id).where(expired).order_by(Market.id)))
    if ids:
        session.execute(update(Market).where(expired, Market.id.in_(ids))
                        .values(status=MarketStatus.CLOSED))
    return ids


@shared_task(name="patterns.cleanup_expired_markets")
def cleanup_expired_markets(now: str | None = None) -> dict[str, Any]:
    """Periodic (beat): close expired markets; `now` (ISO 8601) pins the clock for lessons."""
    moment = datetime.fromisoformat(now) if now else datetime.now(UTC)
    # It reads, then writes: a writing session (SQLite: BEGIN IMMEDIATE) so that a commit by
    # another connection in between makes it wait, not fail with "database is locked".
    with get_db().new_session(write=True) as session:
        ids = close_expired_markets(session, moment)
        session.commit()
    for market_id in ids:  # after the commit: readers must not cache the old status again
        invalidate_market(market_id)
    return {"closed": len(ids), "as_of": moment.isoformat()}


@shared_task(name="patterns.jobs_ping")
def jobs_ping(value: Any = "pong") -> Any:
    """Answer the value: an enqueue-to-result round trip with no work in it."""
    return value


@shared_task(name="patterns.jobs_probe")
def jobs_probe(number: int, hold: float) -> int:
    """Reliability probe: hold long enough to be killed mid-task, then answer its number."""
    time.sleep(hold)  # the time a test has to kill the process running it
    return number


# --- Enqueue after commit ---

_PENDING = "workbook.tasks_after_commit"


def enqueue_after_commit(session: Session, task: Task, *args: Any, **kwargs: Any) -> AsyncResult:
    """Send task(*args, **kwargs) once the session commits; never, if it rolls back."""
    # Bound to this app's Celery now: the commit may run where another app is the default.
    celery_app = get_celery()
    task_id = uuid()  # known now, so the caller can follow the task it will become
    # The savepoint (begin_nested) it was enqueued in, if any: rolling that back forgets it.
    owner = session.get_nested_transaction()
    pending = session.info.setdefault(_PENDING, [])
    pending.append((celery_app.tasks[task.name], args, kwargs, task_id, owner))
    return celery_app.AsyncResult(task_id)


def _send_pending(session: Session) -> None:
    # after_commit also fires when a savepoint is released: only the outermost commit sends.
    if session.in_nested_transaction():
        return
    for task, args, kwargs, task_id, _owner in session.info.pop(_PENDING, []):
        task.apply_async(args, kwargs, task_id=task_id)


def _within(owner: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while owner is not None:  # a savepoint released into the rolled-back one is rolled back too
        if owner is savepoint:
            return True
        owner = owner.parent
    return False


def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.nested and _PENDING in session.info:  # a savepoint rolled back, not the whole
        session.info[_PENDING] = [p for p in session.info[_PENDING]
                                  if not _within(p[4], previous)]


def _drop_pending(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit
        session.info.pop(_PENDING, None)


def listen_for_commits(factory: sessionmaker[Session]) -> None:
    """Wire enqueue_after_commit into a session factory's commit and rollback."""
    if not event.contains(factory, "after_commit", _send_pending):
        event.listen(factory, "after_commit", _send_pending)
        event.listen(factory, "after_transaction_end", _drop_pending)
        event.listen(factory, "after_soft_rollback", _drop_rolled_back)
