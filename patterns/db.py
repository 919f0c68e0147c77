"""The database extension: one engine per app, one session per request, isolated scratch schemas."""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from patterns import bootstrap
from patterns.config import ENV_DATABASE_URL, ConfigurationError, mask_url

# A scratch schema older than this was left by a killed run; sweeping it keeps the server clean.
STALE_SCHEMA_SECONDS = 3600
SCHEMA_PREFIX = "wb_"
# Set by the root conftest for a whole pytest run, so its kernels' schemas can be found and dropped.
ENV_RUN_ID = "WORKBOOK_RUN_ID"
# Execution option read by the SQLite BEGIN hook: "IMMEDIATE" for sessions that will write.
BEGIN_MODE = "workbook_sqlite_begin"
# HTTP methods that only read; every other request gets a writing session.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def switch_to_wal(cursor: Any, patience: float = 5.0) -> None:
    """Put a SQLite database in WAL mode (readers never block the writer), once per file."""
    # Switching takes a lock another starting process may hold (two starts at once), so switch
    # only a database not in WAL mode yet. A switch that races another gets "database is locked"
    # at once: SQLite skips the busy handler there (it could deadlock), so wait here instead.
    deadline = time.monotonic() + patience
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def sqlite_hooks(engine: Engine) -> None:
    """Let SQLAlchemy, not Python's sqlite3 driver, decide where transactions begin."""

    # The driver skips BEGIN before SELECT/DDL and so breaks SAVEPOINT; the SQLAlchemy docs'
    # recipe: turn the driver's own handling off and emit BEGIN ourselves.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=5000")  # first: the pragmas below may have to wait
        cursor.execute("PRAGMA foreign_keys=ON")
        switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(BEGIN_MODE, '')}".rstrip())


_swept: set[str] = set()  # the servers this process has swept


def _sweep_stale_schemas_once(conn: Connection) -> None:
    """Drop scratch schemas that a killed run left behind (their name carries their birth time)."""
    # Once per process and server: a leftover is hours old, and a test run builds hundreds of apps.
    server = conn.engine.url.render_as_string(hide_password=True)
    if server in _swept:
        return
    now = int(time.time())
    names = conn.scalars(
        text("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"),
        {"p": SCHEMA_PREFIX + "%"},
    ).all()
    stale = [name for name in names if (born := _born(name)) and now - born > STALE_SCHEMA_SECONDS]
    for name in stale:
        # A leftover that something still holds (a session left idle in a transaction) waits for
        # no one: skipped after a second, tried again by the next process, never blocking this one.
        try:
            with conn.begin_nested():
                conn.execute(text("SET LOCAL lock_timeout = '1s'"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        except OperationalError:
            continue
    if stale:
        conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    _swept.add(server)


def _born(name: str) -> int:
    """The birth time (epoch seconds) in a scratch schema's name, 0 when it carries none."""
    born = name.split("_")[1] if name.count("_") >= 2 else ""
    return int(born) if born.isdigit() else 0


def run_id() -> str:
    """The id of the test run this process belongs to (kernels inherit it), else "solo"."""
    value = os.environ.get(ENV_RUN_ID, "solo")
    return value if value.isalnum() else "solo"


def drop_run_schemas(url: str, run: str) -> int:
    """Drop the scratch schemas of one run: nbval kills kernels, so their atexit never runs."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            names = conn.scalars(
                text("SELECT schema_name FROM information_schema.schemata"
                     " WHERE schema_name LIKE :p"),
                {"p": f"{SCHEMA_PREFIX}%\\_{run}\\_%"},
            ).all()
            for name in names:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        return len(names)
    finally:
        engine.dispose()


# The private SQLite files of one process (tests, lessons: hundreds of apps) all start alike.
# The first of each demo-row count is prepared, then kept in memory; the next ones are copies made
# with SQLite's backup API: 0.1 ms instead of 12 ms of CREATE TABLE and demo inserts each.
_TEMPLATES: dict[int, tuple[sqlite3.Connection, bootstrap.DatabaseReport]] = {}
_TEMPLATES_LOCK = threading.Lock()


def _prepare_private_sqlite(engine: Engine, demo_rows: int) -> bootstrap.DatabaseReport:
    """A new private SQLite file: prepared as any database is, or a copy of the first one."""
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(demo_rows)
        if template is not None:
            image, report = template
            with engine.connect() as conn:
                image.backup(_sqlite3(conn))
    if template is not None:
        return bootstrap.new_identity(engine, report)  # a copy, but a database of its own
    report = bootstrap.prepare(engine, demo_rows)
    image = sqlite3.connect(":memory:", check_same_thread=False)
    with engine.connect() as conn:
        _sqlite3(conn).backup(image)
    with _TEMPLATES_LOCK:
        _TEMPLATES.setdefault(demo_rows, (image, report))
    return report


def _sqlite3(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


class Database:
    """Engine, session factory and (when isolated) a private schema for one Flask app."""

    def __init__(self, app: Flask | None = None) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None
        self.write_sessionmaker: sessionmaker[Session] | None = None
        self.schema: str | None = None
        self._tempdir: str | None = None
        self.report: bootstrap.DatabaseReport | None = None  # what the start found
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the engine from app.config, create the tables and close sessions on teardown."""
        url = app.config.get("DATABASE_URL")
        isolated = bool(app.config.get("DATABASE_ISOLATED"))
        self.engine = self._make_engine(url, isolated, app.config.get("DATABASE_SCHEMA"))
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite in WAL mode: a transaction that reads, then writes after another connection
        # committed, fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT), which no
        # busy timeout retries. Writers take the write lock at BEGIN instead, where SQLite waits.
        writer = (self.engine.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
                  if self.engine.dialect.name == "sqlite" else self.engine)
        self.write_sessionmaker = sessionmaker(writer, expire_on_commit=False)
        # Tables, identity and demo rows, under a lock: two processes starting together on one
        # database neither race on CREATE TABLE nor both seed.
        demo_rows = int(app.config.get("DEMO_ROWS") or 0)
        if self._tempdir is not None:
            self.report = _prepare_private_sqlite(self.engine, demo_rows)
        else:
            self.report = bootstrap.prepare(self.engine, demo_rows, fresh=self.schema is not None)
        app.extensions["db"] = self
        app.teardown_appcontext(_close_session)

    def _make_engine(self, url: str | None, isolated: bool, attach: str | None = None) -> Engine:
        if url is None or (isolated and make_url(url).get_backend_name() == "sqlite"):
            # Embedded default: a private SQLite file, removed when the process exits. A file
            # (not :memory:) so that two sessions really are two connections, as on a server.
            self._tempdir = tempfile.mkdtemp(prefix="workbook-")
            url = f"sqlite:///{os.path.join(self._tempdir, 'markets.sqlite3')}"
        backend = make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {}
        if backend == "postgresql" and attach:
            # A worker process joining the scratch schema its parent made: use it, never drop it.
            kwargs["connect_args"] = {"options": f"-csearch_path={attach}"}
        elif backend == "postgresql" and isolated:
            self.schema = f"{SCHEMA_PREFIX}{int(time.time())}_{run_id()}_{secrets.token_hex(4)}"
            kwargs["connect_args"] = {"options": f"-csearch_path={self.schema}"}
        try:
            engine = create_engine(url, **kwargs)
            if backend == "sqlite":
                sqlite_hooks(engine)
            if self.schema:
                # On the app's own connection: a search_path naming a schema that does not exist
                # yet is allowed, and a second engine would cost a connection per app.
                with engine.begin() as conn:
                    _sweep_stale_schemas_once(conn)
                    conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            else:
                with engine.connect():
                    pass
        except Exception as exc:  # one readable line, not a driver traceback
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise ConfigurationError(
                f"{ENV_DATABASE_URL}={mask_url(url)}: cannot use this database: {reason}"
            ) from None
        atexit.register(self.close)
        return engine

    def close(self) -> None:
        """Dispose of the engine and drop what isolation created; safe to call twice."""
        if self.schema and self.engine is not None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            except Exception:
                pass  # the sweep of the next run removes it
            self.schema = None
        if self.engine is not None:
            self.engine.dispose()
        if self._tempdir:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def new_session(self, *, write: bool = False) -> Session:
        """A fresh session the caller owns; write=True if it writes (SQLite: BEGIN IMMEDIATE)."""
        factory = self.write_sessionmaker if write else self.sessionmaker
        assert factory is not None, "Database.init_app(app) was not called"
        return factory()


def get_db(app: Flask | None = None) -> Database:
    """The Database of the given app, or of the current one."""
    return (app or current_app).extensions["db"]


def get_session() -> Session:
    """The session of the current request (or app context), created on first use."""
    if "db_session" not in g:
        write = has_request_context() and request.method not in SAFE_METHODS
        g.db_session = get_db().new_session(write=write)
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    # Closing rolls back whatever the request did not commit: nothing half-written survives.
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
