"""Query optimization: fetch only shown columns, index the hot query, page by key, bulk insert."""

from __future__ import annotations

import itertools
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, Select, delete, event, func, insert, select, text
from sqlalchemy.orm import Session

from patterns.demo_data import demo_rows
from patterns.models import Market, MarketStatus, User
from patterns.query_counter import count_queries

# The columns a market list shows; everything else (description, dates) stays in the database.
LISTED = (Market.id, Market.name, Market.status, Market.volume)

# The seed's hot query filters on status and sorts on volume: one composite index serves both.
HOT_INDEX = "ix_markets_status_volume"
HOT_INDEX_DDL = f"CREATE INDEX {HOT_INDEX} ON markets (status, volume DESC)"


def seed_markets(session: Session, n: int, *, seed: int = 42) -> int:
    """Write n demo markets and their creators (no positions) as two executemany INSERTs; commit."""
    rows = demo_rows(n, seed=seed, positions_per_market=0)
    session.execute(insert(User), rows["users"])
    session.execute(insert(Market), rows["markets"])
    session.commit()
    return n


def median_seconds(fn: Callable[[], Any], repeat: int = 5) -> float:
    """The median wall time of fn over repeat runs (the median shrugs off a noisy neighbour)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass(frozen=True)
class Ratio:
    """Two timings of the same result, the slow way and the fast way."""

    slow: float
    fast: float

    @property
    def speedup(self) -> float:
        """How many times faster the fast way is."""
        return self.slow / self.fast


# ---- 1. Projection: only the needed columns ---------------------------------------------------

def hot_query(limit: int = 10) -> Select[Any]:
    """The seed's hot query in 2.x form: the top active markets by volume, listed columns only."""
    return (select(*LISTED)
            .where(Market.status == MarketStatus.ACTIVE)
            .order_by(Market.volume.desc())
            .limit(limit))


def load_entities(session: Session, rows: int) -> list[Market]:
    """rows markets as whole ORM entities: every column, identity map, change tracking."""
    return list(session.scalars(select(Market).order_by(Market.id).limit(rows)))


def load_columns(session: Session, rows: int) -> list[Row[Any]]:
    """The same rows as plain tuples of the four listed columns."""
    return list(session.execute(select(*LISTED).order_by(Market.id).limit(rows)))


def projection_speedup(factory: Callable[[], Session], rows: int = 10_000,
                       repeat: int = 5) -> Ratio:
    """Seconds to load rows markets as entities versus listed columns (a fresh session each run)."""

    def timed(loader: Callable[[Session, int], list[Any]]) -> float:
        def once() -> None:
            with factory() as session:  # a fresh identity map, as in a new request
                assert len(loader(session, rows)) == rows
        return median_seconds(once, repeat)

    return Ratio(slow=timed(load_entities), fast=timed(load_columns))


# ---- 2. Plans: does the hot query use an index? ----------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A query plan reduced to what both SQLite and PostgreSQL can answer the same way."""

    lines: tuple[str, ...]
    index: str | None
    sorts: bool

    @property
    def uses_index(self) -> bool:
        """Whether the plan reads through an index rather than scanning the table."""
        return self.index is not None

    @classmethod
    def from_lines(cls, lines: Sequence[str]) -> Plan:
        """Read a plan's text lines, SQLite's or PostgreSQL's, into the normalized answers."""
        lines = tuple(line.strip() for line in lines)
        index = next((next(g for g in m.groups() if g) for line in lines
                      if (m := _INDEX.search(line))), None)
        return cls(lines, index, any(_SORT.search(line) for line in lines))

    def __str__(self) -> str:
        used = f"yes ({self.index})" if self.index else "no (reads the whole table)"
        return f"uses index: {used}\nextra sort step: {'yes' if self.sorts else 'no'}"


# SQLite: "SEARCH markets USING INDEX ix (status=?)"; PostgreSQL: "Index Scan using ix on markets".
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)"
                    r"|Index (?:Only )?Scan(?: Backward)? using (\w+)"
                    r"|Bitmap Index Scan on (\w+)")
# SQLite: "USE TEMP B-TREE FOR ORDER BY"; PostgreSQL: a "Sort" or "Incremental Sort" node.
_SORT = re.compile(r"TEMP B-TREE FOR ORDER BY|^(?:->\s+)?(?:Incremental )?Sort$")


_EXPLAINS = itertools.count(1)


def explain(session: Session, stmt: Select[Any]) -> Plan:
    """EXPLAIN (QUERY PLAN) a statement on whatever backend the session uses, normalized."""
    bind = session.get_bind()
    # Literal values so the plan is for these constants (both planners may use them); the
    # statement is ours, never user input.
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    if bind.dialect.name == "sqlite":
        # A fresh comment each time: the driver caches prepared statements by their text, and a
        # cached EXPLAIN keeps describing the plan of an index that was dropped since.
        sql = f"EXPLAIN QUERY PLAN /* {next(_EXPLAINS)} */ {sql}"
        lines = [row[-1] for row in session.execute(text(sql))]
    else:
        lines = [row[0] for row in session.execute(text(f"EXPLAIN (COSTS OFF) {sql}"))]
    return Plan.from_lines(lines)


def analyze(session: Session) -> None:
    """Refresh the planner's statistics (PostgreSQL may ignore an index it has no numbers for)."""
    session.execute(text("ANALYZE markets"))
    session.commit()


def create_hot_index(session: Session) -> None:
    """Create the composite index for the hot query, then refresh statistics."""
    session.execute(text(HOT_INDEX_DDL))
    analyze(session)


def drop_hot_index(session: Session) -> None:
    """Drop the hot query's index (to measure, or to repeat the lesson)."""
    session.execute(text(f"DROP INDEX IF EXISTS {HOT_INDEX}"))
    session.commit()


# ---- 3. Pagination: OFFSET versus keyset ---------------------------------------------------

def offset_page(session: Session, offset: int, size: int = 20) -> list[Row[Any]]:
    """A page by OFFSET: the database produces and throws away `offset` rows first."""
    stmt = select(*LISTED).order_by(Market.id).offset(offset).limit(size)
    return list(session.execute(stmt))


def keyset_page(session: Session, after_id: int | None, size: int = 20) -> list[Row[Any]]:
    """A page by key (seek method): start right after the last id the client saw."""
    stmt = select(*LISTED).order_by(Market.id).limit(size)
    if after_id is not None:
        stmt = stmt.where(Market.id > after_id)
    return list(session.execute(stmt))


@dataclass(frozen=True)
class PageCost:
    """What one page costs at one depth, both ways."""

    depth: int
    offset_seconds: float
    keyset_seconds: float

    @property
    def ratio(self) -> float:
        """How many times slower OFFSET is than keyset at this depth."""
        return self.offset_seconds / self.keyset_seconds


def pagination_costs(session: Session, depths: Sequence[int], size: int = 20,
                     repeat: int = 7) -> list[PageCost]:
    """Time OFFSET and keyset pages at each depth (rows skipped), after checking they agree."""
    costs = []
    for depth in depths:
        # The key of the row just before the page: what the client got on the previous page.
        after = session.scalar(select(Market.id).order_by(Market.id).offset(depth - 1).limit(1)) \
            if depth else None
        assert offset_page(session, depth, size) == keyset_page(session, after, size)
        costs.append(PageCost(
            depth,
            median_seconds(lambda: offset_page(session, depth, size), repeat),  # noqa: B023
            median_seconds(lambda: keyset_page(session, after, size), repeat),  # noqa: B023
        ))
    return costs


def depths_for(rows: int, points: int = 6, size: int = 20) -> list[int]:
    """Evenly spaced depths from the first page to the last full page of a table of rows."""
    last = rows - size
    return [round(last * i / (points - 1)) for i in range(points)]


# ---- 4. Bulk insert ---------------------------------------------------------------------------

@contextmanager
def count_commits(engine: Engine) -> Iterator[list[int]]:
    """Count the COMMITs an engine sends while the block runs (the result is a one-item list)."""
    seen = [0]

    def _commit(_conn: Any) -> None:
        seen[0] += 1

    event.listen(engine, "commit", _commit)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", _commit)


def market_rows(session: Session, n: int, *, seed: int = 7) -> list[dict[str, Any]]:
    """n new market rows as dicts, each created by one of the users already in the table."""
    users = session.scalar(select(func.count()).select_from(User))
    if not users:
        raise ValueError("market rows need creators: seed some users first")
    rows = demo_rows(n, seed=seed, positions_per_market=0)["markets"]
    return [row | {"creator_id": 1 + i % users} for i, row in enumerate(rows)]


def insert_commit_per_row(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One object, one flush, one COMMIT per row: what a loop around a `create()` does."""
    for row in rows:
        session.add(Market(**row))
        session.commit()


def insert_add_all(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Build every object, add them all, commit once; the ORM still fetches each new id."""
    session.add_all([Market(**row) for row in rows])
    session.commit()


def insert_executemany(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """insert() with a list of dicts: one executemany, no objects, no ids fetched back."""
    session.execute(insert(Market), list(rows))
    session.commit()


BULK_STRATEGIES: dict[str, Callable[[Session, Sequence[dict[str, Any]]], None]] = {
    "commit per row": insert_commit_per_row,
    "add_all": insert_add_all,
    "insert() + dicts": insert_executemany,
}


@dataclass(frozen=True)
class BulkRun:
    """One strategy inserting n rows: statements sent, COMMITs, seconds."""

    strategy: str
    rows: int
    statements: int
    commits: int
    seconds: float


def bulk_insert(factory: Callable[[], Session], n: int,
                strategies: Sequence[str] = tuple(BULK_STRATEGIES),
                repeat: int = 1) -> dict[str, BulkRun]:
    """Insert the same n markets each way (median of repeat runs); the table is left unchanged."""
    runs = {}
    for name in strategies:
        times = []
        with factory() as session:  # warm-up: compile the statements before the clock runs
            first_new = (session.scalar(select(func.max(Market.id))) or 0) + 1
            BULK_STRATEGIES[name](session, market_rows(session, 5))
            session.execute(delete(Market).where(Market.id >= first_new))
            session.commit()
        for _ in range(repeat):
            with factory() as session:
                first_new = (session.scalar(select(func.max(Market.id))) or 0) + 1
                rows = market_rows(session, n)
                session.commit()
                engine = session.get_bind()
                with count_queries(engine) as log, count_commits(engine) as commits:
                    started = time.perf_counter()
                    BULK_STRATEGIES[name](session, rows)
                    times.append(time.perf_counter() - started)
                inserted = session.scalar(select(func.count()).where(Market.id >= first_new))
                assert inserted == n, f"{name} inserted {inserted} rows, expected {n}"
                # Remove them again, so every strategy and every run meets the same table.
                session.execute(delete(Market).where(Market.id >= first_new))
                session.commit()
        runs[name] = BulkRun(name, n, len(log.of_kind("INSERT")), commits[0],
                             statistics.median(times))
    return runs
