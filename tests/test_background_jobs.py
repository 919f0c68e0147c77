"""Background jobs: one Celery app per Flask app, a real worker, ids as arguments, after-commit
enqueueing, retries on transient errors only, the 202/Location API, and late acknowledgement."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import psycopg
import pytest
from celery import Celery, Task, shared_task
from celery.schedules import crontab
from flask import Flask
from kombu.exceptions import EncodeError
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from evidence.background_jobs import (
    check_house_position,
    eager_ms,
    retried_attempts,
    roundtrip_ms,
    run_task,
    worker_death_trial,
    worker_kill_trials,
)
from evidence.grading import WrongAnswer
from evidence.lab import token_headers
from evidence.services import real_services, service_answers
from patterns import structured_logging as sl
from patterns.app import create_app
from patterns.background_jobs import (
    BEAT_SCHEDULE,
    JOB_TRANSIENT,
    EmbeddedWorker,
    TransientDatabaseError,
    WorkerProcess,
    cleanup_expired_markets,
    enqueue_after_commit,
    get_celery,
    index_market,
    is_transient,
    jobs_ping,
    listen_for_transient_errors,
    start_worker,
)
from patterns.background_jobs import api as jobs_api
from patterns.background_jobs.celery_app import celery_config
from patterns.db import get_db, get_session
from patterns.models import Market, MarketStatus, Position, Side
from patterns.retry_backoff import TransientError
from patterns.worker import main as worker_main

UUID = re.compile(r"^[0-9a-f-]{36}$")
Worker = EmbeddedWorker | WorkerProcess
MakeApp = Callable[..., Flask]  # the make_app fixture's type


@pytest.fixture(scope="module")
def jobs() -> Iterator[tuple[Flask, Worker]]:
    """One app and one running worker for the module: starting and stopping cost time."""
    # create_app, not make_app: the fixture lives for the module, make_app for one test.
    app = create_app({"TESTING": True, "DEMO_ROWS": 20, "JOBS_RETRY_BASE": 0.01})
    worker = start_worker(app)
    yield app, worker
    worker.stop()
    get_db(app).close()


@pytest.fixture(scope="module")
def jobs_app(jobs: tuple[Flask, Worker]) -> Flask:
    return jobs[0]


@pytest.fixture(scope="module")
def jobs_worker(jobs: tuple[Flask, Worker]) -> Worker:
    """In-process by default; a worker process (its own stderr) under make test-real."""
    return jobs[1]


def new_market(app: Flask, name: str) -> Market:
    with app.app_context():
        session = get_session()
        market = Market(name=name, creator_id=1)
        session.add(market)
        session.commit()
        return market


# --- wiring ---


def test_each_app_has_its_own_celery_and_private_queue(
        jobs_app: Flask, make_app: MakeApp) -> None:
    other = make_app()
    assert isinstance(get_celery(jobs_app), Celery)
    assert get_celery(jobs_app) is not get_celery(other)
    queues = {get_celery(a).conf.task_default_queue for a in (jobs_app, other)}
    assert len(queues) == 2 and all(q.startswith("workbook-") for q in queues)


def test_reliability_settings(jobs_app: Flask) -> None:
    conf = get_celery(jobs_app).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]


def test_tasks_run_in_the_app_context_through_the_broker(jobs_app: Flask) -> None:
    result = run_task(jobs_app, index_market, 3)  # reads the app's database: needs its context
    assert result["indexed"] is True and result["market_id"] == 3


def test_beat_schedules_the_cleanup() -> None:
    entry = BEAT_SCHEDULE["cleanup-expired-markets"]
    assert entry["task"] == cleanup_expired_markets.name
    assert isinstance(entry["schedule"], crontab)


# --- tasks ---


def test_index_market_is_idempotent(jobs_app: Flask) -> None:
    first = run_task(jobs_app, index_market, 4)
    second = run_task(jobs_app, index_market, 4)
    assert first["entries_for_market"] == second["entries_for_market"] == 1
    assert first["index_size"] == second["index_size"]


def test_transient_failures_are_retried_with_backoff(jobs_app: Flask) -> None:
    assert retried_attempts(jobs_app, 5, failures=2) == 3


def test_retries_stop_at_the_limit(jobs_app: Flask) -> None:
    result = get_celery(jobs_app).tasks[index_market.name].delay(5, fail_first=99)
    with pytest.raises(TransientError):
        result.get(timeout=30, interval=0.005)
    assert result.state == "FAILURE"


def test_a_bug_is_not_retried(jobs_app: Flask) -> None:
    service = mock.Mock()
    service.return_value.index_for_search.side_effect = TypeError("a bug")
    target = "patterns.background_jobs.tasks.market_service"
    with jobs_app.app_context(), mock.patch(target, service):
        result = get_celery(jobs_app).tasks[index_market.name].apply(args=(5,))
    assert result.state == "FAILURE" and isinstance(result.result, TypeError)
    assert service.return_value.index_for_search.call_count == 1


def test_cleanup_closes_expired_markets_and_refreshes_the_cache(jobs_app: Flask) -> None:
    client = jobs_app.test_client()
    now = "2026-02-01T00:00:00+00:00"
    with jobs_app.app_context():
        expected = get_session().scalar(select(func.count()).select_from(Market).where(
            Market.status == MarketStatus.ACTIVE, Market.closes_at <= datetime.fromisoformat(now)))
        victim = get_session().scalar(select(Market.id).where(
            Market.status == MarketStatus.ACTIVE, Market.closes_at <= datetime.fromisoformat(now)))
    assert expected and victim
    assert client.get(f"/api/markets/{victim}").get_json()["data"]["status"] == "active"  # cached
    assert run_task(jobs_app, cleanup_expired_markets, now=now)["closed"] == expected
    assert client.get(f"/api/markets/{victim}").get_json()["data"]["status"] == "closed"
    assert run_task(jobs_app, cleanup_expired_markets, now=now)["closed"] == 0  # idempotent


# --- which errors are transient ---


@pytest.mark.parametrize("error, transient", [
    (psycopg.errors.SerializationFailure("could not serialize access"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.ConnectionFailure("connection failure"), True),  # class 08
    (psycopg.OperationalError("connection failed: Connection refused"), True),  # no SQLSTATE
    (psycopg.errors.UndefinedTable('relation "markets" does not exist'), False),
    (psycopg.errors.DivisionByZero("division by zero"), False),
    (ConnectionResetError("reset by peer"), True),
    (ValueError("a bug"), False),
], ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v))
def test_transient_errors_are_told_by_sqlstate(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def _sqlite_engine(path: Path) -> Engine:
    # Autocommit at the driver, no busy wait: BEGIN IMMEDIATE on a locked file fails at once.
    engine = create_engine(f"sqlite:///{path}",
                           connect_args={"timeout": 0, "isolation_level": None})
    listen_for_transient_errors(engine)
    return engine


def test_sqlite_no_such_table_is_permanent_and_not_retried(tmp_path: Path) -> None:
    engine = _sqlite_engine(tmp_path / "db.sqlite")
    with engine.connect() as conn, pytest.raises(OperationalError) as raised:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert "no such table" in str(raised.value)
    assert not isinstance(raised.value, JOB_TRANSIENT)
    engine.dispose()


def test_sqlite_database_is_locked_is_transient(tmp_path: Path) -> None:
    engine = _sqlite_engine(tmp_path / "db.sqlite")
    with engine.connect() as holder, engine.connect() as waiter:
        holder.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(TransientDatabaseError, match="database is locked") as raised:
            waiter.exec_driver_sql("BEGIN IMMEDIATE")
        holder.exec_driver_sql("ROLLBACK")
    assert isinstance(raised.value, JOB_TRANSIENT) and isinstance(raised.value, OperationalError)
    engine.dispose()


def test_a_permanent_operational_error_is_not_retried(jobs_app: Flask) -> None:
    service = mock.Mock()
    service.return_value.index_for_search.side_effect = OperationalError(
        "SELECT", {}, sqlite3.OperationalError("no such table: market_embeddings"))
    target = "patterns.background_jobs.tasks.market_service"
    with jobs_app.app_context(), mock.patch(target, service):
        result = get_celery(jobs_app).tasks[index_market.name].apply(args=(5,))
    assert result.state == "FAILURE" and isinstance(result.result, OperationalError)
    assert service.return_value.index_for_search.call_count == 1


def test_the_app_raises_transient_errors_as_such(jobs_app: Flask) -> None:
    dropped = OperationalError("SELECT 1", {}, ConnectionResetError("server went away"))
    engine = get_db(jobs_app).engine
    assert engine is not None

    def drop(*_: Any) -> None:
        raise dropped

    event.listen(engine, "before_cursor_execute", drop)
    try:
        with engine.connect() as conn, pytest.raises(TransientDatabaseError):
            conn.exec_driver_sql("SELECT 1")
    finally:
        event.remove(engine, "before_cursor_execute", drop)


# --- enqueue after commit ---


def test_a_task_enqueued_before_the_commit_misses_its_row(jobs_app: Flask) -> None:
    with jobs_app.app_context():
        session = get_session()
        market = Market(name="Not committed yet", creator_id=1)
        session.add(market)
        session.flush()
        early = run_task(jobs_app, index_market, market.id)
        session.commit()
    assert early["indexed"] is False  # the worker's session cannot see an uncommitted row
    assert run_task(jobs_app, index_market, market.id)["indexed"] is True


def test_enqueue_after_commit_sends_once_committed(jobs_app: Flask) -> None:
    with jobs_app.app_context():
        session = get_session()
        market = Market(name="Committed first", creator_id=1)
        session.add(market)
        session.flush()
        pending = enqueue_after_commit(session, index_market, market.id)
        assert UUID.match(pending.id)
        session.commit()
    assert pending.get(timeout=30, interval=0.005)["indexed"] is True


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_enqueue_after_commit_sends_from_a_writing_request(jobs_app: Flask, method: str) -> None:
    # Writing requests get the write session factory: its commits must send the tasks too.
    with jobs_app.test_request_context("/api/markets", method=method):
        session = get_session()
        market = Market(name=f"Committed by a {method}", creator_id=1)
        session.add(market)
        session.flush()
        pending = enqueue_after_commit(session, index_market, market.id)
        session.commit()
    assert pending.get(timeout=30, interval=0.005)["indexed"] is True


def test_enqueue_after_commit_sends_nothing_on_rollback(jobs_app: Flask) -> None:
    with jobs_app.app_context():
        session = get_session()
        market = Market(name="Rolled back", creator_id=1)
        session.add(market)
        session.flush()
        pending = enqueue_after_commit(session, index_market, market.id)
        session.rollback()
        session.commit()  # a later commit must not send what the rollback discarded
    run_task(jobs_app, jobs_ping)  # one queue, one worker: anything sent earlier has run by now
    assert pending.state == "PENDING"


# --- the API ---


def test_index_route_answers_202_with_a_location_to_poll(jobs_app: Flask) -> None:
    client = jobs_app.test_client()
    response = client.post("/api/markets/2/index", headers=token_headers(jobs_app))
    assert response.status_code == 202
    task_id = response.get_json()["data"]["task_id"]
    assert response.headers["Location"] == f"/api/tasks/{task_id}"
    get_celery(jobs_app).AsyncResult(task_id).get(timeout=30, interval=0.005)
    status = client.get(response.headers["Location"])
    assert status.status_code == 200 and "Retry-After" not in status.headers
    data = status.get_json()["data"]
    assert data["state"] == "SUCCESS" and data["result"]["market_id"] == 2


def test_index_route_needs_auth_and_an_existing_market(jobs_app: Flask) -> None:
    client = jobs_app.test_client()
    assert client.post("/api/markets/2/index").status_code == 401
    missing = client.post("/api/markets/9999/index", headers=token_headers(jobs_app))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_a_failed_task_reports_its_error_type_but_not_its_message(jobs_app: Flask) -> None:
    # Anyone may poll a task: a driver's message (host, user, SQL) must not reach them.
    result = get_celery(jobs_app).tasks[index_market.name].delay(5, fail_first=99)
    with jobs_app.app_context():
        jobs_api._remember(result.id, index_market.name)
    with pytest.raises(TransientError):
        result.get(timeout=30, interval=0.005)
    data = jobs_app.test_client().get(f"/api/tasks/{result.id}").get_json()["data"]
    assert data["state"] == "FAILURE" and data["error"] == "TransientError"
    # A type Celery cannot rebuild from its arguments comes back wrapped: unwrap its name.
    secret = Exception("<class 'sqlalchemy.exc.OperationalError'>(['host 10.0.0.5, user app'])")
    assert jobs_api._error_type(secret) == "OperationalError"


@pytest.mark.parametrize("task_id", ["00000000-0000-0000-0000-000000000000", "not-a-task"])
def test_unknown_tasks_are_404(jobs_app: Flask, task_id: str) -> None:
    assert jobs_app.test_client().get(f"/api/tasks/{task_id}").status_code == 404


# --- the request id travels into the job ---


def _task_lines(lines: list[str]) -> list[dict]:
    parsed = sl.parse_lines(lines)
    return [line for line in parsed if line["logger"] == "patterns.background_jobs.tasks"]


def test_the_request_id_travels_into_the_jobs_log_lines(
        jobs_app: Flask, jobs_worker: Worker) -> None:
    client = jobs_app.test_client()
    with jobs_worker.capture_logs() as lines:
        response = client.post("/api/markets/2/index",
                               headers={**token_headers(jobs_app), "X-Request-ID": "abc-123"})
        task_id = response.get_json()["data"]["task_id"]
        get_celery(jobs_app).AsyncResult(task_id).get(timeout=30, interval=0.005)
    assert response.headers["X-Request-ID"] == "abc-123"
    (line,) = _task_lines(lines)
    assert line["message"] == "market indexed" and line["market_id"] == 2
    assert line["request_id"] == "abc-123" and line["task_id"] == task_id


def test_the_request_id_survives_retries_and_after_commit_enqueueing(
        jobs_app: Flask, jobs_worker: Worker) -> None:
    celery_app = get_celery(jobs_app)
    with jobs_worker.capture_logs() as lines:
        with jobs_app.test_request_context(headers={"X-Request-ID": "req-retried"}):
            jobs_app.preprocess_request()  # the middleware sets the request's id
            retried = celery_app.tasks[index_market.name].delay(3, fail_first=1)
            session = get_session()
            market = Market(name="Indexed after the commit", creator_id=1)
            session.add(market)
            session.flush()
            pending = enqueue_after_commit(session, index_market, market.id)
            session.commit()
        # fail_first=1 forces one retry; on SQLite the task may also meet this test's concurrent
        # commit and retry its stale snapshot as transient (JOB_TRANSIENT), which is one more.
        assert retried.get(timeout=30, interval=0.005)["attempts"] >= 2
        pending.get(timeout=30, interval=0.005)
    by_task = {line["task_id"]: line["request_id"] for line in _task_lines(lines)}
    assert by_task == {retried.id: "req-retried", pending.id: "req-retried"}


def test_a_job_outside_any_request_gets_its_own_id_and_a_header_wins(
        jobs_app: Flask, jobs_worker: Worker) -> None:
    task = get_celery(jobs_app).tasks[index_market.name]
    with jobs_worker.capture_logs() as lines:
        plain = task.delay(4)
        plain.get(timeout=30, interval=0.005)
        with jobs_app.test_request_context(headers={"X-Request-ID": "from-request"}):
            jobs_app.preprocess_request()
            explicit = task.apply_async((4,), headers={"request_id": "given-by-caller"})
        explicit.get(timeout=30, interval=0.005)
    rid = {line["task_id"]: line["request_id"] for line in _task_lines(lines)}
    assert sl.is_well_formed(rid[plain.id]) and len(rid[plain.id]) == 32  # a fresh id
    assert rid[explicit.id] == "given-by-caller"


def test_a_task_run_eagerly_in_a_request_logs_its_id(jobs_app: Flask) -> None:
    with sl.capture_logs() as lines, jobs_app.test_request_context(
            headers={"X-Request-ID": "eager-1"}):
        jobs_app.preprocess_request()
        result = get_celery(jobs_app).tasks[index_market.name].apply(args=(5,))
    (line,) = _task_lines(lines)
    assert line["request_id"] == "eager-1" and line["task_id"] == result.id


# --- the seed ---


def test_seed_task_builds_an_app_per_attempt_and_retries_a_bug(jobs_app: Flask) -> None:
    from patterns.seed import background_jobs as seed

    built = []

    def counting_create_app() -> Flask:  # stands in for the seed's create_app(), so it is one
        app = create_app({"TESTING": True})
        built.append(app)
        get_db(app).close()
        return app

    with jobs_app.app_context(), mock.patch.object(seed, "create_app", counting_create_app):
        result = get_celery(jobs_app).tasks[seed.index_market.name].apply(args=(1,))
    assert result.state == "FAILURE" and isinstance(result.result, TypeError)
    assert len(built) == 4  # the first attempt and three retries of a TypeError


def test_orm_objects_cannot_be_task_arguments(jobs_app: Flask) -> None:
    with jobs_app.app_context():
        market = get_session().get(Market, 1)
        with pytest.raises(EncodeError, match="Market is not JSON serializable"):
            get_celery(jobs_app).tasks[index_market.name].delay(market)


def test_roundtrip_is_fast(jobs_app: Flask) -> None:
    assert roundtrip_ms(jobs_app, rounds=5) < 1000


def test_the_broker_costs_more_than_an_eager_call(jobs_app: Flask) -> None:
    assert eager_ms(jobs_app, rounds=5) < roundtrip_ms(jobs_app, rounds=5)


def test_roundtrip_is_timed_on_the_clock_it_is_given(jobs_app: Flask) -> None:
    ticks = iter(range(10**6))  # every reading of the clock is 1 ms after the last
    assert roundtrip_ms(jobs_app, rounds=3, clock=lambda: next(ticks) / 1000) == pytest.approx(1.0)


def test_the_worker_entry_point_is_python_m_patterns_worker(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        worker_main(["--help"])
    assert exited.value.code == 0 and "python -m patterns.worker" in capsys.readouterr().out


# --- real broker ---


def _need_real_broker() -> str:
    import os

    url = os.environ.get("WORKBOOK_BROKER_URL")
    if not (real_services() and url):
        pytest.skip("needs WORKBOOK_REAL_SERVICES=1 and WORKBOOK_BROKER_URL (make test-real)")
    where = urlsplit(url)
    default_port = 6379 if where.scheme.startswith("redis") else 5672
    host, port = where.hostname or "127.0.0.1", where.port or default_port
    if not service_answers(host, port):
        pytest.skip(f"the broker does not answer at {host}:{port}")
    return url


@pytest.mark.slow
def test_a_killed_worker_child_loses_no_task_with_late_acks(make_app: MakeApp) -> None:
    # A real prefork worker process: on the real broker, or on a folder when embedded.
    app = make_app(DEMO_ROWS=5)
    early, late = worker_kill_trials(app, tasks=6, hold=0.3)
    assert (early.acks_late, early.lost, early.states[early.killed]) == (False, 1, "FAILURE")
    assert (late.acks_late, late.lost, late.states[late.killed]) == (True, 0, "SUCCESS")
    assert any("WorkerLostError" in line for line in early.log)
    assert any("exited with 'signal 9 (SIGKILL)'" in line for line in late.log)
    expected = urlsplit(app.config["BROKER_URL"] or "filesystem://").scheme
    assert early.broker == late.broker == expected


@pytest.mark.real
@pytest.mark.slow
def test_what_a_killed_whole_worker_held_depends_on_the_broker(make_app: MakeApp) -> None:
    url = _need_real_broker()
    trial = worker_death_trial(make_app(DEMO_ROWS=5), tasks=6, hold=0.3, window=5.0)
    if url.startswith("amqp"):
        assert trial.lost == 0  # RabbitMQ redelivers a closed channel's unacked messages
    else:  # Redis holds them until visibility_timeout (an hour): not back within 5 s
        assert 1 <= trial.lost <= 4  # those running or reserved: 2 children, prefetch 1 each


def test_a_folder_broker_keeps_messages_and_results_in_one_folder(tmp_path: Path) -> None:
    settings = celery_config({"BROKER_URL": f"filesystem://{tmp_path}/b", "JOBS_QUEUE": "q"})
    assert settings["broker_url"] == "workbook-filesystem://"
    assert settings["result_backend"] == f"file://{tmp_path}/b/results"
    options = settings["broker_transport_options"]
    assert options["data_folder_in"] == options["data_folder_out"] == f"{tmp_path}/b/messages"


def test_rabbitmq_results_go_to_redis_when_there_is_one() -> None:
    amqp = "amqp://guest:guest@127.0.0.1:5672//"
    with_redis = celery_config({"BROKER_URL": amqp, "REDIS_URL": "redis://h:6379/0",
                                "JOBS_QUEUE": "q"})
    assert with_redis["broker_url"] == amqp and with_redis["result_backend"] == "redis://h:6379/0"
    assert celery_config({"BROKER_URL": amqp, "JOBS_QUEUE": "q"})["result_backend"] == "rpc://"


@pytest.mark.real
def test_a_worker_process_shares_an_embedded_sqlite_database(make_app: MakeApp) -> None:
    _need_real_broker()
    app = make_app(DEMO_ROWS=5, DATABASE_URL=None)
    with WorkerProcess(app):
        assert run_task(app, index_market, 2)["indexed"] is True
        market = new_market(app, "Made by the parent process")
        assert run_task(app, index_market, market.id)["indexed"] is True


@pytest.mark.real
def test_the_api_finds_what_the_worker_process_indexed(jobs_app: Flask) -> None:
    _need_real_broker()  # then jobs_app's worker is a separate process, with its own memory
    client = jobs_app.test_client()

    def found(q: str) -> list[int]:
        data = client.get(f"/api/markets/search?q={q}&limit=3").get_json()["data"]
        return [hit["market"]["id"] for hit in data]

    found("zeppelin")  # the API's cache is loaded before the market exists
    market = new_market(jobs_app, "Will a zeppelin cross the Atlantic?")  # no vector yet
    assert market.id not in found("zeppelin Atlantic")
    response = client.post(f"/api/markets/{market.id}/index", headers=token_headers(jobs_app))
    task = get_celery(jobs_app).AsyncResult(response.get_json()["data"]["task_id"])
    assert task.get(timeout=30, interval=0.005)["indexed"] is True
    assert found("zeppelin Atlantic")[0] == market.id  # stored by the worker, seen by the API


# --- the exercise check (in-process: it plays broker and worker, no worker needed) ---

HOUSE = 1


def _house_position_query(market_id: int) -> Any:
    return select(Position.id).where(Position.market_id == market_id, Position.user_id == HOUSE)


def _open(market_id: int) -> Position:
    return Position(market_id=market_id, user_id=HOUSE, side=Side.YES, amount=Decimal("10.00"))


@shared_task(bind=True, max_retries=3)
def open_house_position(self: Task, market_id: int) -> None:
    """The reference answer, as in the notebook."""
    try:
        session = get_session()
        if session.scalar(_house_position_query(market_id)) is None:
            session.add(_open(market_id))
            session.commit()
    except JOB_TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=0.05) from None


def create_market(session: Session, name: str) -> Any:
    market = Market(name=name, creator_id=1)
    session.add(market)
    session.flush()
    return enqueue_after_commit(session, open_house_position, market.id)


@shared_task(bind=True, autoretry_for=JOB_TRANSIENT, retry_backoff=True, max_retries=4)
def open_house_position_declared(self: Task, market_id: int) -> None:
    """Correct, written differently: declarative retries, an owned writing session, exists()."""
    with get_db().new_session(write=True) as session:
        if not session.scalar(select(_house_position_query(market_id).exists())):
            session.add(_open(market_id))
            session.commit()


def create_market_declared(session: Session, name: str) -> None:
    market = Market(name=name, creator_id=1)
    session.add(market)
    session.flush()
    enqueue_after_commit(session, open_house_position_declared, market_id=market.id)


def sends(task: Task) -> Callable[[Session, str], Any]:
    """The reference create_market, sending another task."""
    def create(session: Session, name: str) -> Any:
        market = Market(name=name, creator_id=1)
        session.add(market)
        session.flush()
        return enqueue_after_commit(session, task, market.id)
    return create


def sends_before_the_commit(session: Session, name: str) -> Any:
    market = Market(name=name, creator_id=1)
    session.add(market)
    session.flush()
    return open_house_position.delay(market.id)  # the worker may run before the commit


def sends_the_orm_object(session: Session, name: str) -> Any:
    market = Market(name=name, creator_id=1)
    session.add(market)
    session.flush()
    return enqueue_after_commit(session, open_house_position, market)


def commits_itself(session: Session, name: str) -> Any:
    market = Market(name=name, creator_id=1)
    session.add(market)
    session.commit()
    return open_house_position.delay(market.id)


@shared_task(bind=True, max_retries=3)
def retries_everything(self: Task, market_id: int) -> None:
    try:
        session = get_session()
        if session.scalar(_house_position_query(market_id)) is None:
            session.add(_open(market_id))
            session.commit()
    except Exception as exc:
        raise self.retry(exc=exc, countdown=0.05) from None


@shared_task(bind=True, max_retries=3)
def retries_operational_error(self: Task, market_id: int) -> None:
    try:
        session = get_session()
        if session.scalar(_house_position_query(market_id)) is None:
            session.add(_open(market_id))
            session.commit()
    except OperationalError as exc:  # what JOB_TRANSIENT used to hold: "no such table" too
        raise self.retry(exc=exc, countdown=0.05) from None


@shared_task(bind=True, max_retries=3)
def not_idempotent(self: Task, market_id: int) -> None:
    try:
        session = get_session()
        session.add(_open(market_id))
        session.commit()
    except JOB_TRANSIENT as exc:
        raise self.retry(exc=exc, countdown=0.05) from None


@shared_task(bind=True)
def retries_nothing(self: Task, market_id: int) -> None:
    session = get_session()
    if session.scalar(_house_position_query(market_id)) is None:
        session.add(_open(market_id))
        session.commit()


@shared_task(bind=True, max_retries=3)
def never_commits(self: Task, market_id: int) -> None:
    get_session().add(_open(market_id))


def stub_notebook() -> dict[str, Any]:
    """The workspace's stub, from the notebook's solution cell."""
    path = Path(__file__).parents[1] / "notebooks" / "11_background_jobs.ipynb"
    cell = next(c for c in json.loads(path.read_text())["cells"]
                if "solution" in c["metadata"].get("tags", []))
    namespace: dict[str, Any] = {"__name__": "workspace_stub_11"}
    exec(cell["metadata"]["workbook"]["stub"], namespace)
    return namespace


@pytest.mark.parametrize("task, create", [
    (open_house_position, create_market),
    (open_house_position_declared, create_market_declared),
], ids=["reference", "declared-retries"])
def test_the_exercise_check_accepts_correct_answers(
        jobs_app: Flask, task: Task, create: Any, capsys: pytest.CaptureFixture[str]) -> None:
    check_house_position(task, create, jobs_app)
    assert capsys.readouterr().out.startswith("✓ open_house_position: sent at the commit only")
    with jobs_app.app_context():  # the check leaves the lesson's data as it found it
        assert not get_session().scalar(select(Market.id).where(Market.name.like("Will the %(%)")))


def test_the_exercise_check_rejects_the_stub(jobs_app: Flask) -> None:
    stub = stub_notebook()
    with pytest.raises(WrongAnswer, match="create_market is not written yet"):
        check_house_position(stub["open_house_position"], stub["create_market"], jobs_app)
    with pytest.raises(WrongAnswer, match="open_house_position is not written yet"):
        check_house_position(stub["open_house_position"], sends(stub["open_house_position"]),
                             jobs_app)


@pytest.mark.parametrize("task, create, message", [
    (open_house_position, sends_the_orm_object,
     r"expected the task's arguments to be JSON, as every broker message is \(send the market's "
     r"id\); sending open_house_position\(Market\(id=\d+.*\)\) failed: Object of type Market is "
     r"not JSON serializable"),
    (open_house_position, sends_before_the_commit,
     r"expected the task to be sent when the session commits \(enqueue_after_commit\); "
     r"create_market sent open_house_position\(\d+\) itself, before the commit: a worker that "
     r"takes it at once finds no market"),
    (retries_everything, sends(retries_everything),
     r"expected 1 attempt when the insert fails with IntegrityError .*; your task tried 4 times: "
     r"retry JOB_TRANSIENT only, not Exception"),
    (not_idempotent, sends(not_idempotent),
     r"expected one house position on market \d+ after the same message ran twice; found 2: "
     r"check for the position before adding it"),
    (retries_nothing, sends(retries_nothing),
     r"expected a retry after OperationalError \(the database dropped the connection: "
     r"transient\), then one position; your task tried 1 time\(s\) and left 0 position\(s\) \(it "
     r"failed with TransientDatabaseError"),
    (retries_operational_error, sends(retries_operational_error),
     r"expected 1 attempt when the insert fails with OperationalError: no such table .*; your "
     r"task tried 4 times: catch JOB_TRANSIENT, which holds TransientDatabaseError, not every "
     r"OperationalError"),
    (open_house_position, commits_itself,
     "expected create_market to leave the commit to its caller; it committed"),
    (never_commits, sends(never_commits),
     r"expected one house position on market \d+ after one run; found 0 \(did the task commit"),
    (create_market, create_market,
     r"expected open_house_position to be a Celery task \(decorate it with "
     r"@shared_task\(bind=True\)\); got function 'create_market'"),
], ids=["orm-object", "before-commit", "retries-everything", "not-idempotent", "retries-nothing",
        "retries-operational-error", "commits-itself", "never-commits", "not-a-task"])
def test_the_exercise_check_rejects_plausible_wrong_answers(
        jobs_app: Flask, task: Any, create: Any, message: str) -> None:
    with pytest.raises(WrongAnswer, match=message):
        check_house_position(task, create, jobs_app)


def test_the_exercise_check_stops_a_task_that_hangs(jobs_app: Flask) -> None:
    @shared_task(bind=True, name="tests.sleeps")
    def sleeps(self: Task, market_id: int) -> None:
        time.sleep(0.5)

    with mock.patch("evidence.background_jobs_exercise.TASK_SECONDS", 0.05), \
            pytest.raises(WrongAnswer, match=r"your task did not finish within 0 s \(sleeps\(\d+\) "
                                             "is still running"):
        check_house_position(sleeps, sends(sleeps), jobs_app)


def test_the_exercise_check_empty_bodies_are_told_not_crashed(jobs_app: Flask) -> None:
    @shared_task(bind=True, name="tests.does_nothing")
    def does_nothing(self: Task, market_id: int) -> None:
        pass

    with pytest.raises(WrongAnswer, match="expected create_market to add a market named"):
        check_house_position(does_nothing, lambda session, name: None, jobs_app)
    with pytest.raises(WrongAnswer, match=r"after one run; found 0"):
        check_house_position(does_nothing, sends(does_nothing), jobs_app)


def test_a_task_enqueued_in_a_rolled_back_savepoint_is_never_sent(
        jobs_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple] = []
    monkeypatch.setattr("celery.app.task.Task.apply_async",
                        lambda self, args, kwargs, task_id: sent.append(args))
    with jobs_app.app_context(), get_db(jobs_app).new_session(write=True) as session:
        session.begin()
        enqueue_after_commit(session, jobs_ping, "outer")
        savepoint = session.begin_nested()
        enqueue_after_commit(session, jobs_ping, "rolled back")
        savepoint.rollback()
        savepoint = session.begin_nested()
        inner = session.begin_nested()
        enqueue_after_commit(session, jobs_ping, "released into a rolled-back savepoint")
        inner.commit()
        savepoint.rollback()
        released = session.begin_nested()
        enqueue_after_commit(session, jobs_ping, "released")
        released.commit()
        assert sent == [], "a released savepoint is not a commit: nothing may be sent yet"
        session.commit()
    assert sent == [("outer",), ("released",)]


def test_a_kill_trial_that_does_not_finish_says_which_probe_hung_and_what_was_logged() -> None:
    from types import SimpleNamespace

    from evidence import background_jobs

    line = "[2026-12-03 10:00:00,000: INFO/MainProcess] ready"
    worker = SimpleNamespace(log_lines=lambda: [line])
    results = [SimpleNamespace(state="SUCCESS"), SimpleNamespace(state="STARTED")]
    said = background_jobs._unfinished((False,), [worker], [results], [1])  # type: ignore[list-item]
    assert "acks_late=False: states ['SUCCESS', 'STARTED'], killed 1" in said
    assert "INFO/MainProcess] ready" in said and "finished within 30 s" in said
    said = background_jobs._unfinished((True,), [worker], [results], None)  # type: ignore[list-item]
    assert "probe started where it could be killed" in said and "killed nothing yet" in said


def _folder_channel(tmp_path: Path) -> Any:
    from kombu import Connection

    settings = celery_config({"BROKER_URL": f"filesystem://{tmp_path}/b", "JOBS_QUEUE": "q"})
    for folder in ("data_folder_in", "control_folder"):
        Path(settings["broker_transport_options"][folder]).mkdir(parents=True, exist_ok=True)
    connection = Connection(settings["broker_url"],
                            transport_options=settings["broker_transport_options"])
    return connection.default_channel


def test_a_folder_broker_never_hands_out_a_message_still_being_written(tmp_path: Path) -> None:
    from queue import Empty

    from kombu.transport import filesystem

    channel = _folder_channel(tmp_path)
    seen: list[Any] = []

    def consumer_polls_now(*args: Any) -> None:  # a worker's poll at the worst moment
        try:
            seen.append(channel._get("q"))
        except Empty:
            seen.append("empty")
        except ValueError:  # the file was taken while empty: that message is gone for good
            seen.append("took a half-written file")

    # kombu's own put: the .msg file exists before its content does.
    with mock.patch.object(filesystem, "lock", consumer_polls_now):
        filesystem.Channel._put(channel, "q", {"body": "lost"})
    assert seen == ["took a half-written file"]
    with pytest.raises(Empty):
        channel._get("q")
    # The workbook's channel: written under another name, then renamed into place.
    real_replace = os.replace

    def replace_after_a_poll(src: str, dst: str) -> None:
        consumer_polls_now()
        real_replace(src, dst)

    with mock.patch.object(os, "replace", replace_after_a_poll):
        channel._put("q", {"body": "kept"})
    assert seen[1:] == ["empty"] and channel._get("q") == {"body": "kept"}
