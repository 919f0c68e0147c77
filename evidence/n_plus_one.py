"""Lesson 06's evidence: statements per strategy, the time ratio, and what each loader fetches."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Select, event, select
from sqlalchemy.orm import Session, joinedload, selectinload

from evidence.query_optimization import engine_of
from evidence.timing import Clock, Ratio, compare
from patterns.models import Market
from patterns.n_plus_one import STRATEGIES, creator_names
from patterns.query_counter import count_queries


def statements(factory: Callable[[], Session], n: int, strategy: str) -> int:
    """How many statements creator_names runs for n markets, in a fresh session."""
    with factory() as session, count_queries(engine_of(session)) as log:
        names = creator_names(session, n, strategy)
    assert len(names) == n, f"only {len(names)} markets in the table, asked for {n}"
    return log.count


def statement_curve(factory: Callable[[], Session], ns: Sequence[int],
                    strategies: Sequence[str] = STRATEGIES) -> dict[str, list[int]]:
    """Statements against N for each strategy: the picture of N+1."""
    return {s: [statements(factory, n, s) for n in ns] for s in strategies}


def n_plus_one_speedup(factory: Callable[[], Session], n: int = 1_000, repeat: int = 3, *,
                       clock: Clock = time.perf_counter) -> Ratio:
    """Seconds for the lazy loop versus the joinedload loop over n markets (fresh session each)."""

    def once(strategy: str) -> Callable[[], None]:
        def run() -> None:
            with factory() as session:
                creator_names(session, n, strategy)
        return run

    return compare(once("lazy"), once("joined"), repeat, clock=clock)


@dataclass(frozen=True)
class Fetched:
    """What a load sent back: statements, rows and cells (rows x columns) over the wire."""

    statements: int
    rows: int
    cells: int


def fetched(session: Session, stmt: Select[Any]) -> Fetched:
    """Run an ORM query, then replay its SELECTs to count the rows and cells the database sent."""
    seen: list[tuple[str, Any]] = []

    def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    session.expunge_all()  # an empty identity map: nothing is already loaded
    engine = engine_of(session)
    event.listen(engine, "after_cursor_execute", _record)
    try:
        session.scalars(stmt).unique().all()
    finally:
        event.remove(engine, "after_cursor_execute", _record)
    rows = cells = 0
    for statement, parameters in seen:  # the driver's own SQL and parameters, replayed as sent
        result = session.connection().exec_driver_sql(statement, parameters)
        width, count = len(result.keys()), len(result.all())
        rows, cells = rows + count, cells + count * width
    return Fetched(len(seen), rows, cells)


def loading_shapes(session: Session, n: int) -> dict[tuple[str, str], Fetched]:
    """joinedload and selectinload on a many-to-one (creator) and a collection (positions)."""
    shapes = {}
    for relation, attribute in (("creator (many-to-one)", Market.creator),
                                ("positions (collection)", Market.positions)):
        for strategy, load in (("joined", joinedload), ("selectin", selectinload)):
            stmt = select(Market).order_by(Market.id).limit(n).options(load(attribute))
            shapes[(relation, strategy)] = fetched(session, stmt)
    return shapes


def api_statements(client: FlaskClient, limit: int) -> int:
    """Statements GET /api/markets?limit= runs: must not grow with the page size."""
    with count_queries() as log:
        response = client.get(f"/api/markets?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return log.count
