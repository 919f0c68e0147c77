"""Starting on a database that is already there: seeded once, reported truthfully, reset on
request; a cache that cannot outlive its database; a database gone away is a 503."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from evidence.lab import token_headers
from patterns import bootstrap
from patterns.app import create_app
from patterns.caching import get_cache
from patterns.config import ENV_DATABASE_URL
from patterns.db import BEGIN_MODE, get_db

PG_URL = os.environ.get(ENV_DATABASE_URL, "")
ON_POSTGRES = PG_URL.startswith("postgresql")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict]:
    """Config for apps that share one database, as two `make serve` runs do; left as found."""
    if request.param == "sqlite":
        yield {"DATABASE_URL": f"sqlite:///{tmp_path / 'markets.sqlite3'}"}
        return
    if not ON_POSTGRES:
        pytest.skip(f"needs PostgreSQL ({ENV_DATABASE_URL})")
    schema = f"wb_restart_{os.getpid()}_{threading.get_ident() % 10_000}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"DATABASE_URL": PG_URL, "DATABASE_SCHEMA": schema}
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def start(config: dict, rows: int, built: list[Flask]) -> Flask:
    app = create_app({**config, "DATABASE_ISOLATED": False, "DEMO_ROWS": rows})
    built.append(app)
    return app


@pytest.fixture
def built() -> Iterator[list[Flask]]:
    apps: list[Flask] = []
    yield apps
    for app in apps:
        get_db(app).close()


def report(app: Flask) -> bootstrap.DatabaseReport:
    found = get_db(app).report
    assert found is not None
    return found


def test_a_second_start_finds_the_first_ones_rows_and_seeds_nothing(
        shared_database: dict, built: list[Flask]) -> None:
    first = start(shared_database, 10, built)
    assert report(first).describe() == "10 markets, 10 of them demo data (seeded 10 just now)"
    api = first.test_client()
    created = api.post("/api/markets", json={"name": "Mine"}, headers=token_headers(first))
    assert created.status_code == 201
    second = start(shared_database, 10, built)
    assert report(second).describe() == "11 markets, 10 of them demo data"
    assert report(second).database_id == report(first).database_id
    quiet = start(shared_database, 0, built)  # WORKBOOK_DEMO_ROWS=0 reports what is there
    assert (report(quiet).markets, report(quiet).demo_markets, report(quiet).seeded) == (11, 10, 0)


def test_two_starts_at_once_seed_once(shared_database: dict, built: list[Flask]) -> None:
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        gate.wait()
        try:
            start(shared_database, 8, built)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(report(a).seeded for a in built) == [0, 8]
    assert {report(a).markets for a in built} == {8}


def test_reset_demo_asks_first_then_starts_a_new_database(
        shared_database: dict, built: list[Flask]) -> None:
    app = start(shared_database, 5, built)
    old = report(app).database_id
    refused = app.test_cli_runner().invoke(args=["reset-demo", "--rows", "3"])
    assert refused.exit_code != 0 and "--yes" in refused.output
    assert report(start(shared_database, 0, built)).markets == 5, "nothing dropped without --yes"
    done = app.test_cli_runner().invoke(args=["reset-demo", "--rows", "3", "--yes"])
    assert done.exit_code == 0, done.output
    assert "reset: 3 markets, 3 of them demo data" in done.output
    assert report(start(shared_database, 0, built)).database_id != old


def test_the_cache_namespace_names_the_database_so_a_recreated_one_reads_nothing_old(
        shared_database: dict, built: list[Flask]) -> None:
    first = start(shared_database, 5, built)
    again = start(shared_database, 5, built)
    assert get_cache(first).namespace == get_cache(again).namespace, "a restart keeps its cache"
    assert first.test_cli_runner().invoke(args=["reset-demo", "--yes"]).exit_code == 0
    recreated = start(shared_database, 5, built)
    assert get_cache(recreated).namespace != get_cache(first).namespace


@pytest.mark.skipif(not (os.environ.get("WORKBOOK_REDIS_URL") and ON_POSTGRES),
                    reason="needs PostgreSQL and Redis (make test-real)")
def test_on_one_redis_every_get_agrees_with_the_recreated_database(
        shared_database: dict, built: list[Flask]) -> None:
    config = {**shared_database, "REDIS_URL": os.environ["WORKBOOK_REDIS_URL"]}
    first = start(config, 6, built)
    renamed = first.test_client().put("/api/markets/4", json={"name": "Renamed"},
                                      headers=token_headers(first))
    assert renamed.status_code == 200
    for market_id in range(1, 7):  # warm every entry
        assert first.test_client().get(f"/api/markets/{market_id}").status_code == 200
    reset = first.test_cli_runner().invoke(args=["reset-demo", "--rows", "3", "--yes"])
    assert reset.exit_code == 0, reset.output
    fresh = start(config, 0, built)
    try:
        api = fresh.test_client()
        assert api.get("/api/markets/4").status_code == 404, "the old entry must not be served"
        assert api.get("/api/markets/3").get_json()["data"]["name"] != "Renamed"
    finally:
        get_cache(first).clear()
        get_cache(fresh).clear()


def test_the_bootstrap_lock_is_the_write_lock_sqlite_sessions_take() -> None:
    # bootstrap spells the option out because db imports it; they must stay the same.
    assert BEGIN_MODE == "workbook_sqlite_begin"


def test_a_database_that_went_away_answers_503_problem_json(built: list[Flask],
                                                            tmp_path: Path) -> None:
    if ON_POSTGRES:
        app = start({"DATABASE_URL": PG_URL, "TESTING": True, "DATABASE_ISOLATED": True}, 3, built)
        api = app.test_client()
        assert api.get("/api/markets").status_code == 200
        engine = get_db(app).engine
        assert engine is not None
        engine.dispose()  # one pooled connection from here on: the one ended below
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        admin = create_engine(PG_URL)
        with admin.begin() as conn:  # the server ends it, as a restart or a failover does
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
    else:
        path = tmp_path / "gone" / "markets.sqlite3"
        path.parent.mkdir()
        app = start({"DATABASE_URL": f"sqlite:///{path}"}, 3, built)
        api = app.test_client()
        engine = get_db(app).engine
        assert engine is not None
        engine.dispose()
        path.parent.joinpath("markets.sqlite3").unlink()
        path.parent.rmdir()  # the folder is gone: SQLite cannot even create the file again
    answer = api.get("/api/markets")
    assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "application/problem+json"
    assert answer.get_json()["title"] == "Service Unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert "Traceback" not in answer.get_data(as_text=True)
