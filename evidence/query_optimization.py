"""Lesson 05's evidence: projection, OFFSET versus keyset and the bulk-insert paths, timed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, event, func, insert, select
from sqlalchemy.orm import Session

from evidence.timing import Clock, Ratio, compare, median_seconds
from patterns.demo_data import demo_rows
from patterns.models import Market, User
from patterns.query_counter import count_queries
from patterns.query_optimization import (
    insert_add_all,
    insert_core,
    insert_executemany,
    insert_fastest,
    keyset_page,
    load_columns,
    offset_page,
)


def seed_markets(session: Session, n: int, *, seed: int = 42) -> int:
    """Write n demo markets and their creators (no positions) as two executemany INSERTs; commit."""
    rows = demo_rows(n, seed=seed, positions_per_market=0)
    session.execute(insert(User), rows["users"])
    session.execute(insert(Market), rows["markets"])
    session.commit()
    return n


def engine_of(session: Session) -> Engine:
    """The engine behind a session (the lessons bind theirs to an engine, not a connection)."""
    bind = session.get_bind()
    if not isinstance(bind, Engine):
        raise TypeError(f"expected a session bound to an Engine, got {type(bind).__name__}")
    return bind


# ---- Projection ----------------------------------------------------------------------------

def load_entities(session: Session, rows: int) -> list[Market]:
    """rows markets as whole ORM entities: every column, identity map, change tracking."""
    return list(session.scalars(select(Market).order_by(Market.id).limit(rows)))


def projection_speedup(factory: Callable[[], Session], rows: int = 10_000,
                       repeat: int = 5, *, clock: Clock = time.perf_counter) -> Ratio:
    """Seconds to load rows markets as entities versus listed columns (a fresh session each run)."""

    def once(loader: Callable[[Session, int], list[Any]]) -> Callable[[], None]:
        def run() -> None:
            with factory() as session:  # a fresh identity map, as in a new request
                assert len(loader(session, rows)) == rows
        return run

    return compare(once(load_entities), once(load_columns), repeat, clock=clock)


# ---- Pagination ----------------------------------------------------------------------------

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
                     repeat: int = 21, *, clock: Clock = time.perf_counter) -> list[PageCost]:
    """Time OFFSET and keyset pages at each depth (rows skipped), after checking they agree."""
    # 21 turns, not 7: a keyset page takes half a millisecond, so a few runs that lose the CPU
    # to a neighbour (make test's other workers) moved a median of 7 enough to take the deepest
    # ratio from ~6 under 2 once. Under three busy loops: worst of 20 runs 2.5 with 7, 3.3 with 21.
    costs = []
    for depth in depths:
        # The key of the row just before the page: what the client got on the previous page.
        after = session.scalar(select(Market.id).order_by(Market.id).offset(depth - 1).limit(1)) \
            if depth else None
        assert offset_page(session, depth, size) == keyset_page(session, after, size)
        ratio = compare(lambda: offset_page(session, depth, size),  # noqa: B023
                        lambda: keyset_page(session, after, size),  # noqa: B023
                        repeat, clock=clock)
        costs.append(PageCost(depth, ratio.slow, ratio.fast))
    return costs


def depths_for(rows: int, points: int = 6, size: int = 20) -> list[int]:
    """Evenly spaced depths from the first page to the last full page of a table of rows."""
    last = rows - size
    return [round(last * i / (points - 1)) for i in range(points)]


# ---- Bulk insert ---------------------------------------------------------------------------

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


# The ladder, slowest rung first. The names are the lesson's and the bench's labels.
BULK_STRATEGIES: dict[str, Callable[[Session, Sequence[dict[str, Any]]], None]] = {
    "commit per row": insert_commit_per_row,
    "add_all": insert_add_all,
    "insert() + dicts": insert_executemany,
    "Core executemany": insert_core,
    "fastest path": insert_fastest,
}


@contextmanager
def count_copies() -> Iterator[list[int]]:
    """Count psycopg COPY statements while the block runs: they bypass SQLAlchemy's events."""
    seen = [0]
    try:
        from psycopg import Cursor
    except ImportError:  # no psycopg, so no COPY either
        yield seen
        return
    original = Cursor.copy

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        return original(self, *args, **kwargs)

    Cursor.copy = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Cursor.copy = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class BulkRun:
    """One strategy inserting n rows: statements sent (INSERT or COPY), COMMITs, seconds."""

    strategy: str
    rows: int
    statements: int
    commits: int
    seconds: float


def bulk_insert(factory: Callable[[], Session], n: int,
                strategies: Sequence[str] = tuple(BULK_STRATEGIES),
                repeat: int = 1, *, clock: Clock = time.perf_counter) -> dict[str, BulkRun]:
    """Insert the same n markets each way (median of repeat runs); the table is left unchanged."""
    runs = {}
    for name in strategies:
        strategy, times = BULK_STRATEGIES[name], []
        with factory() as session:  # warm-up: compile the statements before the clock runs
            first_new = (session.scalar(select(func.max(Market.id))) or 0) + 1
            strategy(session, market_rows(session, 5))
            session.execute(delete(Market).where(Market.id >= first_new))
            session.commit()
        for _ in range(repeat):
            with factory() as session:
                first_new = (session.scalar(select(func.max(Market.id))) or 0) + 1
                rows = market_rows(session, n)
                session.commit()
                engine = engine_of(session)
                with count_queries(engine) as log, count_commits(engine) as commits, \
                        count_copies() as copies:
                    # Each run needs fresh rows and a fresh table, made outside the clock: so
                    # time one call per run, and take the median of the runs below.
                    times.append(median_seconds(lambda: strategy(session, rows),  # noqa: B023
                                                1, clock=clock))
                inserted = session.scalar(select(func.count()).where(Market.id >= first_new))
                assert inserted == n, f"{name} inserted {inserted} rows, expected {n}"
                # Remove them again, so every strategy and every run meets the same table.
                session.execute(delete(Market).where(Market.id >= first_new))
                session.commit()
        runs[name] = BulkRun(name, n, len(log.of_kind("INSERT")) + copies[0], commits[0],
                             statistics.median(times))
    return runs
