"""What a process does to its database at start, once even when several start together:
the tables, the database's own identity, and demo rows into empty tables only."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from patterns.demo_data import seed_demo_data
from patterns.models import Base, Market, User, WorkbookMeta

# One number for pg_advisory_xact_lock: every process preparing this database takes it.
_LOCK_KEY = 0x5742_0001
DATABASE_ID = "database_id"
DEMO_MARKETS = "demo_markets"


@dataclass(frozen=True)
class DatabaseReport:
    """What a start found (and did): the database's id, its markets, how many are demo data."""

    database_id: str
    markets: int
    demo_markets: int
    seeded: int  # demo markets written by this start (0 when the tables already held rows)

    def describe(self) -> str:
        """One line for a banner: "115 markets, 100 of them demo data"."""
        note = f" (seeded {self.seeded} just now)" if self.seeded else ""
        return f"{self.markets} markets, {self.demo_markets} of them demo data{note}"


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """A transaction no other starting process runs at the same time."""
    if engine.dialect.name == "sqlite":
        # BEGIN IMMEDIATE (the write lock) before anything is read: a second start waits.
        # (The option db.BEGIN_MODE names; db imports this module, so it is spelled here.)
        options = {"workbook_sqlite_begin": "IMMEDIATE"}
        with engine.execution_options(**options).begin() as conn:
            yield conn
    else:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield conn


def _meta(session: Session, key: str) -> str | None:
    row = session.get(WorkbookMeta, key)
    return None if row is None else row.value


def prepare(engine: Engine, demo_rows: int = 0, *, fresh: bool = False) -> DatabaseReport:
    """Create missing tables, give a new database its id, seed demo rows into empty tables."""
    with _exclusive(engine) as conn:
        # fresh: a schema made a moment ago, known to no one else. It has no table to look for,
        # and create_all's look (one catalog query per table) is half of a test app's start.
        Base.metadata.create_all(conn, checkfirst=not fresh)
        with Session(bind=conn) as session:  # inside the locked transaction, committed with it
            database_id = _meta(session, DATABASE_ID)
            if database_id is None:  # a new (or re-created) database: a new identity
                database_id = secrets.token_hex(8)
                session.add(WorkbookMeta(key=DATABASE_ID, value=database_id))
            seeded = 0
            if demo_rows and not session.scalar(select(func.count()).select_from(User)):
                seeded = seed_demo_data(session, demo_rows, commit=False).markets
                session.merge(WorkbookMeta(key=DEMO_MARKETS, value=str(seeded)))
            session.flush()
            demo = int(_meta(session, DEMO_MARKETS) or 0)
            markets = session.scalar(select(func.count()).select_from(Market)) or 0
            # Ids are never reused, so the demo markets still there are those with ids 1..demo.
            still_demo = session.scalar(
                select(func.count()).select_from(Market).where(Market.id <= demo)) or 0
    return DatabaseReport(database_id, markets, still_demo, seeded)


def new_identity(engine: Engine, copied: DatabaseReport) -> DatabaseReport:
    """A copy of a prepared database gets an id of its own; its report is the original's."""
    database_id = secrets.token_hex(8)
    with _exclusive(engine) as conn, Session(bind=conn) as session:
        session.merge(WorkbookMeta(key=DATABASE_ID, value=database_id))
        session.flush()
    return replace(copied, database_id=database_id)


def reset(engine: Engine, demo_rows: int) -> DatabaseReport:
    """Drop every table of the workbook and start again: a new identity, fresh demo rows."""
    with _exclusive(engine) as conn:
        Base.metadata.drop_all(conn)
    return prepare(engine, demo_rows)
