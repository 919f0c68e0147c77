"""Lesson 11's exercise check: a task that takes an id, is idempotent, retries only transient
errors, and is sent only once its market is committed."""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from celery import Celery, Task, uuid
from celery.result import AsyncResult, EagerResult
from flask import Flask
from kombu import serialization
from kombu.exceptions import EncodeError
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from evidence.grading import WrongAnswer, call, expect, passed
from patterns.background_jobs.celery_app import get_celery
from patterns.db import get_db
from patterns.models import Market, Position

TASK_SECONDS = 5.0  # a task that takes longer is waiting for a lock, or for something else
_INSERT_POSITION = re.compile(r"^\s*INSERT\s+INTO\s+(\S+\.)?\"?positions\"?", re.I)
_PERMANENT_FAILURES = 5  # a task that retries everything still ends, and we count its attempts


@dataclass
class Message:
    """A task message as the broker would hold it: the task's name and its JSON arguments."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    task_id: str
    sent: str  # when: "inside create_market", "at the commit", "at the rollback"

    def __str__(self) -> str:
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name.rsplit('.', 1)[-1]}({', '.join(shown)})"


@dataclass
class Broker:
    """Stands in for the broker: notes each message, when it was sent, as JSON."""

    celery: Celery
    phase: str = "inside create_market"
    messages: list[Message] = field(default_factory=list)

    def send_task(self, name: str, args: Any = None, kwargs: Any = None,
                  task_id: str | None = None, **_: Any) -> AsyncResult:
        """What Celery.send_task does, minus the network: encode as JSON and note it."""
        try:
            data = serialization.dumps((args or (), kwargs or {}), "json")[2]
        except EncodeError as exc:
            tried = Message(name, tuple(args or ()), dict(kwargs or {}), "", "")
            raise WrongAnswer(
                f"expected the task's arguments to be JSON, as every broker message is (send the "
                f"market's id); sending {tried} failed: {exc}") from None
        sent_args, sent_kwargs = serialization.loads(data, "application/json", "utf-8")
        message = Message(name, tuple(sent_args), dict(sent_kwargs), task_id or uuid(), self.phase)
        self.messages.append(message)
        return self.celery.AsyncResult(message.task_id)


@contextmanager
def _broker(celery: Celery) -> Iterator[Broker]:
    broker = Broker(celery)
    with mock.patch.object(celery, "send_task", broker.send_task):
        celery.set_current()  # a @shared_task's .delay() resolves to this app
        yield broker


class FailingInserts:
    """Make the first `times` INSERTs into positions fail with `error`; count every attempt."""

    def __init__(self, app: Flask, error: Exception | None = None, times: int = 0) -> None:
        self.engine = get_db(app).engine
        self.error, self.times, self.attempts = error, times, 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _INSERT_POSITION.match(statement):
            self.attempts += 1
            if self.error is not None and self.attempts <= self.times:
                raise self.error

    def __enter__(self) -> FailingInserts:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def _run(task: Task, market_id: int) -> EagerResult:
    """Run the task here, as a worker would (in its own app context), within TASK_SECONDS."""
    outcome: list[EagerResult | BaseException] = []

    def work() -> None:
        try:
            outcome.append(task.apply((market_id,)))
        except BaseException as exc:  # apply keeps the task's errors; this is Celery's own
            outcome.append(exc)

    runner = threading.Thread(target=work, daemon=True, name="exercise-task")
    runner.start()
    runner.join(TASK_SECONDS)
    name = task.name.rsplit(".", 1)[-1]
    expect(bool(outcome), f"your task to finish within {TASK_SECONDS:.0f} s",
           f"your task did not finish within {TASK_SECONDS:.0f} s ({name}({market_id}) is "
           "still running: waiting for a lock, or sleeping?)")
    if isinstance(outcome[0], BaseException):
        error = outcome[0]
        raise WrongAnswer(f"expected your task to run; Celery could not run {name}({market_id}): "
                          f"{type(error).__name__}: {error}")
    return outcome[0]


def _positions(app: Flask, market_id: int) -> int:
    with get_db(app).new_session() as session:
        query = select(func.count()).select_from(Position).where(Position.market_id == market_id)
        return int(session.scalar(query) or 0)


def _failure(result: EagerResult) -> str:
    exc = result.result
    if isinstance(exc, NotImplementedError):
        return f"open_house_position is not written yet ({exc})"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"it failed with {type(exc).__name__}: {first}"


def check_house_position(task: Any, create_market: Callable[[Session, str], Any],
                         app: Flask) -> None:
    """Judge open_house_position and create_market against a broker that notes every send."""
    celery = get_celery(app)
    name = getattr(task, "name", None)
    if not isinstance(name, str) or name not in celery.tasks:
        raise WrongAnswer("expected open_house_position to be a Celery task (decorate it with "
                          f"@shared_task(bind=True)); got {type(task).__name__} "
                          f"{getattr(task, '__name__', task)!r}")
    registered: Task = celery.tasks[name]
    created: list[int] = []
    try:
        with app.app_context(), _broker(celery) as broker:
            market_id = _create(app, create_market, broker, created, commit=True)
            (message,) = broker.messages
            expect(message.name == name, f"the message to run {name.rsplit('.', 1)[-1]}",
                   f"your code sent {message}")
            for run in (1, 2):  # a redelivered message (late acks, a killed worker) runs twice
                result = _run(registered, market_id)
                expect(result.state == "SUCCESS", f"your task to run for market {market_id}",
                       _failure(result))
                found = _positions(app, market_id)
                expect(found == 1, f"one house position on market {market_id} after "
                       f"{'one run' if run == 1 else 'the same message ran twice'}",
                       f"found {found}" + (" (did the task commit its session?)" if not found
                                           else ": check for the position before adding it"))
            _create(app, create_market, broker, created, commit=False)
            _retries(app, registered, created)
    finally:
        _forget(app, created)
    passed("open_house_position: sent at the commit only, with an id; one position after two "
           "runs; retried the dropped connection, not the IntegrityError or the missing table")


def _create(app: Flask, create_market: Callable[[Session, str], Any], broker: Broker,
            created: list[int], *, commit: bool) -> int:
    """Call create_market in a fresh session, then commit or roll back; the market's id."""
    title = f"Will the exercise pass? ({secrets.token_hex(3)})"
    broker.phase, before = "inside create_market", len(broker.messages)
    with get_db(app).new_session(write=True) as session:
        commits: list[int] = []
        event.listen(session, "after_commit", lambda _s: commits.append(1))
        call("create_market", create_market, session, title)
        expect(not commits, "create_market to leave the commit to its caller",
               "it committed: the caller can no longer roll the market back")
        inside = broker.messages[before:]
        expect(not inside, "the task to be sent when the session commits (enqueue_after_commit)",
               f"create_market sent {', '.join(map(str, inside))} itself, before the commit: a "
               "worker that takes it at once finds no market, the row is not committed yet")
        session.flush()
        market_id = session.scalar(select(Market.id).where(Market.name == title))
        expect(market_id is not None, f"create_market to add a market named {title!r}",
               "the session holds none")
        assert market_id is not None  # for mypy: expect raised otherwise
        broker.phase = "at the commit" if commit else "at the rollback"
        if commit:
            session.commit()
            created.append(market_id)
        else:
            session.rollback()
    sent = broker.messages[before:]
    if commit:
        expect(len(sent) == 1, "one message sent when the session commits",
               f"{len(sent)} were sent" + (": enqueue the task with enqueue_after_commit("
                                           "session, open_house_position, market.id)"
                                           if not sent else f": {', '.join(map(str, sent))}"))
    else:
        expect(not sent, "nothing sent when the session rolls back",
               f"your code sent {', '.join(map(str, sent))} for a market that never existed")
    return market_id


def _retries(app: Flask, task: Task, created: list[int]) -> None:
    """A dropped connection is retried; a constraint violation fails on the first attempt."""
    dropped = OperationalError("INSERT INTO positions", {},
                               ConnectionError("server closed the connection unexpectedly"))
    broken = IntegrityError("INSERT INTO positions", {},
                            ValueError("CHECK constraint failed: amount"))
    no_table = sqlite3.OperationalError("no such table: positions")
    no_table.sqlite_errorcode = 1  # SQLITE_ERROR, as sqlite3 sets it: a schema error
    missing = OperationalError("INSERT INTO positions", {}, no_table)
    with get_db(app).new_session() as session:
        ids = []
        for _ in range(3):
            market = Market(name=f"Will the retry work? ({secrets.token_hex(3)})", creator_id=1)
            session.add(market)
            session.flush()
            ids.append(market.id)
        session.commit()
    created.extend(ids)
    with FailingInserts(app, dropped, times=1) as inserts:
        result = _run(task, ids[0])
    found = _positions(app, ids[0])
    expect(found == 1 and inserts.attempts == 2,
           "a retry after OperationalError (the database dropped the connection: transient), "
           "then one position", f"your task tried {inserts.attempts} time(s) and left {found} "
           f"position(s) ({_failure(result) if result.state == 'FAILURE' else result.state}): "
           "catch JOB_TRANSIENT and raise self.retry(exc=exc, ...)")
    with FailingInserts(app, broken, times=_PERMANENT_FAILURES) as inserts:
        _run(task, ids[1])
    expect(inserts.attempts == 1,
           "1 attempt when the insert fails with IntegrityError (the row breaks a constraint: "
           "permanent, no retry can fix it)",
           f"your task tried {inserts.attempts} times: retry JOB_TRANSIENT only, not Exception")
    with FailingInserts(app, missing, times=_PERMANENT_FAILURES) as inserts:
        _run(task, ids[2])
    expect(inserts.attempts == 1,
           "1 attempt when the insert fails with OperationalError: no such table (a schema "
           "error: permanent, though SQLite files it under OperationalError)",
           f"your task tried {inserts.attempts} times: catch JOB_TRANSIENT, which holds "
           "TransientDatabaseError, not every OperationalError")


def _forget(app: Flask, created: list[int]) -> None:
    """Remove the check's markets (their positions go with them) so the lesson's data stays."""
    if created:
        with get_db(app).new_session(write=True) as session:
            session.execute(delete(Position).where(Position.market_id.in_(created)))
            session.execute(delete(Market).where(Market.id.in_(created)))
            session.commit()
