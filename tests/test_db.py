"""The database extension: isolation, session per request, SQLite transaction hooks."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from patterns.db import get_db, get_session, switch_to_wal
from patterns.models import Market, User


def test_isolated_apps_do_not_share_rows(make_app) -> None:
    one, two = make_app(DEMO_ROWS=5), make_app(DEMO_ROWS=0)
    with get_db(one).new_session() as a, get_db(two).new_session() as b:
        assert a.scalar(select(func.count()).select_from(Market)) == 5
        assert b.scalar(select(func.count()).select_from(Market)) == 0


def test_private_databases_copied_from_the_first_start_alike_but_are_their_own(make_app) -> None:
    apps = [make_app(DEMO_ROWS=7) for _ in range(3)]  # on SQLite, the 2nd and 3rd are copies

    def rows(app: Flask) -> list[tuple]:
        with get_db(app).new_session() as s:
            return [tuple(r) for r in s.execute(text("SELECT id, name, creator_id FROM markets"))]

    reports = [get_db(app).report for app in apps]
    assert all(r is not None and r.describe() == reports[0].describe() for r in reports)
    assert reports[0].describe() == "7 markets, 7 of them demo data (seeded 7 just now)"
    assert len({r.database_id for r in reports if r is not None}) == 3  # an identity each
    assert rows(apps[0]) == rows(apps[1]) == rows(apps[2]) and len(rows(apps[0])) == 7
    with get_db(apps[1]).new_session(write=True) as s:
        s.execute(text("DELETE FROM positions"))
        s.execute(text("DELETE FROM markets"))
        s.commit()
    assert len(rows(apps[1])) == 0 and len(rows(apps[2])) == 7 == len(rows(make_app(DEMO_ROWS=7)))
    with get_db(apps[2]).new_session() as s:
        if s.get_bind().dialect.name == "sqlite":  # the copy kept the original's WAL mode
            assert s.scalar(text("PRAGMA journal_mode")) == "wal"
        assert s.scalar(text("SELECT value FROM workbook_meta WHERE key = 'database_id'")) \
            == reports[2].database_id  # type: ignore[union-attr]


def test_close_removes_what_isolation_created(app: Flask, make_app) -> None:
    db = get_db(app)
    schema, url = db.schema, str(db.engine.url)
    db.close()
    if schema:  # PostgreSQL: the scratch schema is gone
        admin = make_app(DEMO_ROWS=0)
        with get_db(admin).engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM information_schema.schemata "
                                     "WHERE schema_name = :s"), {"s": schema}).scalar()
        assert left == 0
    else:  # SQLite: the temporary file is gone
        assert not os.path.exists(url.removeprefix("sqlite:///"))
    db.close()  # twice is harmless


def test_session_is_per_request_and_closed_on_teardown(app: Flask) -> None:
    seen = []

    @app.get("/probe")
    def probe() -> str:
        seen.append(get_session())
        assert get_session() is seen[-1]  # one per request
        return "ok"

    client = app.test_client()
    client.get("/probe")
    client.get("/probe")
    assert seen[0] is not seen[1]
    assert not seen[0].in_transaction()  # closed: nothing left open


def test_uncommitted_request_work_is_rolled_back(app: Flask) -> None:
    @app.post("/half")
    def half() -> str:
        get_session().add(User(name="ghost", email="ghost@example.com"))
        get_session().flush()
        raise RuntimeError("boom after a flush")

    assert app.test_client().post("/half").status_code == 500
    with get_db(app).new_session() as session:
        assert session.scalar(select(User).where(User.email == "ghost@example.com")) is None


def test_savepoints_roll_back_only_the_inner_work(app: Flask) -> None:
    with get_db(app).new_session() as session, session.begin():
        session.get(Market, 1).name = "outer"
        nested = session.begin_nested()
        session.get(Market, 2).name = "inner"
        session.flush()
        nested.rollback()
    with get_db(app).new_session() as session:
        assert session.get(Market, 1).name == "outer"
        assert session.get(Market, 2).name != "inner"


def test_a_runs_scratch_schemas_can_be_dropped_even_when_its_processes_were_killed() -> None:
    import subprocess
    import sys

    from patterns.db import drop_run_schemas

    url = os.environ.get("WORKBOOK_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        import pytest

        pytest.skip("scratch schemas exist only on PostgreSQL (set WORKBOOK_DATABASE_URL)")
    code = ("import os, signal; from patterns import create_app; from patterns.db import get_db;"
            "a = create_app({'TESTING': True}); print(get_db(a).schema, flush=True);"
            "os.kill(os.getpid(), signal.SIGKILL)")
    env = dict(os.environ, WORKBOOK_RUN_ID="killtest")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60).stdout.strip()
    assert "_killtest_" in out  # the killed process left its schema behind...
    assert drop_run_schemas(url, "killtest") >= 1  # ...and the run's cleanup finds and drops it
    assert drop_run_schemas(url, "killtest") == 0


def test_a_killed_runs_leftover_schema_is_swept_unless_something_still_holds_it(
        make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """An hour-old scratch schema goes with the next app; one that a session holds is skipped."""
    import time

    from sqlalchemy import create_engine

    from patterns import db

    url = os.environ.get("WORKBOOK_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("scratch schemas exist only on PostgreSQL (set WORKBOOK_DATABASE_URL)")
    born = int(time.time()) - db.STALE_SCHEMA_SECONDS - 60
    free, held = (f"{db.SCHEMA_PREFIX}{born}_sweeptest_{name}" for name in ("free", "held"))
    engine = create_engine(url)

    def exists(name: str) -> bool:
        with engine.connect() as c:
            return bool(c.scalar(text("SELECT count(*) FROM information_schema.schemata"
                                      " WHERE schema_name = :n"), {"n": name}))

    holder = engine.connect()
    try:
        with engine.begin() as c:
            for name in (free, held):
                c.execute(text(f'CREATE SCHEMA "{name}"'))
        # An open transaction that created a table there: DROP SCHEMA would wait for it forever.
        holder.execute(text(f'CREATE TABLE "{held}".t (x int)'))
        monkeypatch.setattr(db, "_swept", set())  # this process swept already: once more
        started = time.monotonic()
        make_app(DEMO_ROWS=0)
        assert time.monotonic() - started < 10, "the sweep waited on the held schema"
        assert not exists(free) and exists(held)
        holder.rollback()
        monkeypatch.setattr(db, "_swept", set())
        make_app(DEMO_ROWS=0)  # released: the next process's sweep takes it
        assert not exists(held)
    finally:
        holder.close()
        with engine.begin() as c:
            for name in (free, held):
                c.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


def test_concurrent_writes_are_serialized_not_500(app: Flask, auth) -> None:
    # Embedded SQLite once answered most of these with 500 "database is locked": a request read,
    # another committed, then the first one's write failed at once (WAL's BUSY_SNAPSHOT).
    import threading
    from collections import Counter

    headers, codes = auth.admin(), Counter()

    def writer(k: int) -> None:
        client = app.test_client()
        for i in range(15):
            codes[client.put("/api/markets/1", json={"name": f"w{k}-{i}"},
                             headers=headers).status_code] += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == Counter({200: 60})


def test_a_write_session_never_blocks_readers(app: Flask) -> None:
    db = get_db(app)
    with db.new_session(write=True) as writer:
        market = writer.get(Market, 1)  # read first
        with db.new_session() as other:  # a reader is never blocked by the writer
            assert other.get(Market, 2) is not None
        market.name = "written after reading"
        writer.commit()
    with db.new_session() as session:
        assert session.get(Market, 1).name == "written after reading"


class _RacingCursor:
    """A sqlite3 cursor whose switch to WAL meets `locked` racing starts, then succeeds."""

    def __init__(self, locked: int, error: str = "database is locked") -> None:
        self.locked, self.error, self.mode, self.switches = locked, error, "delete", 0

    def execute(self, sql: str) -> _RacingCursor:
        if sql == "PRAGMA journal_mode=WAL":
            self.switches += 1
            if self.switches <= self.locked:
                raise sqlite3.OperationalError(self.error)
            self.mode = "wal"
        return self

    def fetchone(self) -> tuple[str]:
        return (self.mode,)


def test_the_switch_to_wal_waits_out_a_racing_start_and_reports_other_errors() -> None:
    # SQLite answers a racing journal-mode switch "database is locked" at once, busy_timeout or
    # not (seen here: 4 to 14 failed starts in 300 races of four threads before this retry).
    cursor = _RacingCursor(locked=3)
    switch_to_wal(cursor)
    assert (cursor.mode, cursor.switches) == ("wal", 4)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        switch_to_wal(_RacingCursor(locked=1, error="disk I/O error"))
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(_RacingCursor(locked=10**6), patience=0.05)


def test_four_starts_at_once_all_get_a_wal_database(tmp_path) -> None:
    for trial in range(40):
        path, gate, errors = tmp_path / f"race{trial}.sqlite3", threading.Barrier(4), []

        def start(path=path, gate=gate, errors=errors) -> None:
            gate.wait()
            try:
                connection = sqlite3.connect(path, timeout=5, isolation_level=None)
                switch_to_wal(connection.cursor())
                connection.close()
            except sqlite3.Error as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, f"race {trial}: {errors}"
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_root_conftest_names_the_variables_patterns_reads() -> None:
    # conftest.py spells them out rather than import patterns (xdist's controller stays light).
    import importlib.util
    from pathlib import Path

    from patterns import config, db

    spec = importlib.util.spec_from_file_location(
        "root_conftest", Path(__file__).resolve().parent.parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    assert (root.ENV_RUN_ID, root.ENV_DATABASE_URL, root.ENV_BROKER_URL) == (
        db.ENV_RUN_ID, config.ENV_DATABASE_URL, config.ENV_BROKER_URL)
