"""Lesson 06's evidence: statements per strategy, the time ratio, and what each loader fetches."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Select, event, select, update
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session, joinedload, selectinload

from evidence.grading import WrongAnswer, call, expect, passed
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


def shared_creator_statements(factory: Callable[[], Session], n: int, creators: int) -> int:
    """Statements of the lazy loop when the first n markets share `creators` creators."""
    with factory() as session:
        # Markets 1..n get creators 1..`creators` in turn, inside a transaction rolled back below:
        # the demo data keeps its one creator per market.
        session.execute(update(Market).where(Market.id <= n)
                        .values(creator_id=(Market.id - 1) % creators + 1))
        session.expunge_all()  # the loop starts as a request does: an empty identity map
        with count_queries(engine_of(session)) as log:
            names = creator_names(session, n, "lazy")
        session.rollback()
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


# ---- the exercise's check ------------------------------------------------------------------

def _book(markets: list[Any]) -> list[tuple[int, str, Any]]:
    """What the detail page shows: each position's market id, user name and amount."""
    return [(m.id, p.user.name, p.amount) for m in markets for p in m.positions]


def check_load_book(load_book: Callable[[Session, int], Any],
                    factory: Callable[[], Session]) -> None:
    """Judge load_book(session, n): 2 statements whatever n, the right rows, and raiseload('*')."""
    for n in (5, 20):
        with factory() as session:
            with session.no_autoflush, count_queries(engine_of(session)) as log:
                markets = call(f"load_book(session, {n})", load_book, session, n)
                loaded = log.count
            expect(hasattr(markets, "__iter__"), f"a list of {n} markets",
                   f"load_book returned {markets!r}")
            markets = list(markets)
            expect(all(isinstance(m, Market) for m in markets), "Market objects (session.scalars)",
                   f"load_book returned {type(markets[0]).__name__ if markets else 'nothing'}")
            with count_queries(engine_of(session)) as log:
                try:
                    book = _book(markets)
                except InvalidRequestError as exc:
                    raise WrongAnswer(f"expected every position and its user loaded by the "
                                      f"query; the page's loop could not read them: {exc}"
                                      ) from None
            lazy = log.count
            expect(loaded + lazy == 2, f"2 statements for {n} markets with their positions and "
                   "users (selectinload for the collection, joinedload for the many-to-one)",
                   f"your load_book sent {loaded}, the page's loop {lazy} more"
                   + (": a relationship is still lazy" if lazy else ""))
            with factory() as fresh:
                wanted = list(fresh.scalars(select(Market).order_by(Market.id).limit(n)))
                expected = _book(wanted)
            expect([m.id for m in markets] == [m.id for m in wanted],
                   f"the first {n} markets by id", f"yours returned ids "
                   f"{[m.id for m in markets][:8]}")
            expect(book == expected, f"{len(expected)} positions with their users",
                   f"yours gave the page {len(book)}")
            try:
                _ = markets[0].creator  # a relationship the page was not meant to touch
            except InvalidRequestError:
                pass
            else:
                raise WrongAnswer("expected reading market.creator, which the page does not "
                                  "need, to raise (raiseload('*')); yours loaded it quietly: "
                                  "a relationship is still lazy")
    passed("load_book: 2 statements for 5 or 20 markets, and any other relationship raises")
