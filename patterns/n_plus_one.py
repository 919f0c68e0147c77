"""N+1 versus eager loading: count the statements; pick the loader by the relationship's shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Select, event, select
from sqlalchemy.orm import Session, joinedload, raiseload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from patterns.models import Market
from patterns.query_counter import count_queries
from patterns.query_optimization import Ratio, median_seconds

STRATEGIES = ("lazy", "joined", "selectin")


def loader(strategy: str, attribute: Any = Market.creator) -> LoaderOption | None:
    """The loader option for a strategy name; None means the mapping's default (lazy)."""
    options = {"lazy": None, "joined": joinedload, "selectin": selectinload}
    if strategy not in options:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    make = options[strategy]
    return None if make is None else make(attribute)


def markets_query(n: int, strategy: str = "lazy") -> Select[tuple[Market]]:
    """The first n markets, their creators loaded by the given strategy (stated in the query)."""
    stmt = select(Market).order_by(Market.id).limit(n)
    option = loader(strategy)
    return stmt if option is None else stmt.options(option)


def creator_names(session: Session, n: int, strategy: str = "lazy") -> list[str]:
    """The seed's loop: each market's creator name; 'lazy' is its BAD version, the others GOOD."""
    return [market.creator.name for market in session.scalars(markets_query(n, strategy))]


def statements(factory: Callable[[], Session], n: int, strategy: str) -> int:
    """How many statements creator_names runs for n markets, in a fresh session."""
    with factory() as session, count_queries(session.get_bind()) as log:
        names = creator_names(session, n, strategy)
    assert len(names) == n, f"only {len(names)} markets in the table, asked for {n}"
    return log.count


def statement_curve(factory: Callable[[], Session], ns: Sequence[int],
                    strategies: Sequence[str] = STRATEGIES) -> dict[str, list[int]]:
    """Statements against N for each strategy: the picture of N+1."""
    return {s: [statements(factory, n, s) for n in ns] for s in strategies}


def n_plus_one_speedup(factory: Callable[[], Session], n: int = 1_000,
                       repeat: int = 3) -> Ratio:
    """Seconds for the lazy loop versus the joinedload loop over n markets (fresh session each)."""

    def timed(strategy: str) -> float:
        def once() -> None:
            with factory() as session:
                creator_names(session, n, strategy)
        return median_seconds(once, repeat)

    return Ratio(slow=timed("lazy"), fast=timed("joined"))


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
    engine = session.get_bind()
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
        for strategy in ("joined", "selectin"):
            stmt = select(Market).order_by(Market.id).limit(n).options(loader(strategy, attribute))
            shapes[(relation, strategy)] = fetched(session, stmt)
    return shapes


def strict_markets(session: Session, n: int) -> list[Market]:
    """Markets with their creators, and every other relationship forbidden (raiseload('*'))."""
    # Whatever the template or serializer touches beyond creator fails loudly instead of
    # quietly adding one SELECT per row.
    stmt = markets_query(n, "joined").options(raiseload("*"))
    return list(session.scalars(stmt))


def api_statements(client: FlaskClient, limit: int) -> int:
    """Statements GET /api/markets?limit= runs: must not grow with the page size."""
    with count_queries() as log:
        response = client.get(f"/api/markets?limit={limit}")
    assert response.status_code == 200, response.get_json()
    return log.count
