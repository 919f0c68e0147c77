"""Lesson 05's exercise check: keyset pages by (volume, id) over markets whose volumes tie."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.orm import Session

from evidence.grading import WrongAnswer, call, expect, passed
from evidence.query_optimization import engine_of
from patterns.models import Market, MarketStatus, User

VOLUMES, PER_VOLUME, SIZE = 5, 8, 10  # ties of 8 across pages of 10: every boundary cuts one


def _tied_markets(session: Session) -> list[int]:
    """Add 40 markets above every existing volume, 8 per volume; their ids in key order."""
    top = session.scalar(select(func.max(Market.volume))) or Decimal("0.00")
    creator = session.scalar(select(User.id).order_by(User.id).limit(1))
    if creator is None:
        raise RuntimeError("the check needs at least one user in the table")
    statuses = list(MarketStatus)
    rows = [{"name": f"tied market {i}", "volume": top + 1000 * (1 + i % VOLUMES),
             "status": statuses[i % len(statuses)], "creator_id": creator}
            for i in range(VOLUMES * PER_VOLUME)]
    session.execute(insert(Market), rows)
    added = select(Market.id).where(Market.name.like("tied market %"))
    return list(session.scalars(added.order_by(Market.volume.desc(), Market.id.desc())))


@contextmanager
def _selects(engine: Engine) -> Iterator[list[Any]]:
    """The statements (as SQLAlchemy objects, not SQL text) an engine executes in the block."""
    seen: list[Any] = []

    def _record(_conn: Any, clause: Any, *_: Any) -> None:
        seen.append(clause)

    event.listen(engine, "before_execute", _record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_execute", _record)


def _key(row: Any, page: int) -> tuple[Any, int]:
    try:
        return row.volume, row.id
    except AttributeError:
        raise WrongAnswer(f"expected rows with .volume and .id (select(*qo.LISTED) rows or "
                          f"Market objects); page {page} held {row!r}") from None


def check_top_volume_page(top_volume_page: Callable[..., Any],
                          factory: Callable[[], Session]) -> None:
    """Walk 4 pages of 10 over 40 markets with tied volumes; judge the rows and the SQL."""
    with factory() as session:
        try:
            expected = _tied_markets(session)
            top = session.scalar(select(Market.volume).where(Market.id == expected[0]))
            seen: list[int] = []
            after: tuple[Any, int] | None = None
            for page_number in range(1, 5):
                with _selects(engine_of(session)) as log:
                    page = call(f"top_volume_page(session, after={after!r}, size={SIZE})",
                                top_volume_page, session, after, size=SIZE)
                expect(hasattr(page, "__iter__"), "a list of rows",
                       f"top_volume_page returned {page!r}")
                page = list(page)
                # SQLite renders "LIMIT ? OFFSET ?" for every LIMIT: ask the statement instead.
                expect(len(log) == 1, "one SELECT per page",
                       f"yours sent {len(log)} for page {page_number}")
                expect(getattr(log[0], "_offset_clause", None) is None,
                       "a seek: WHERE (volume, id) < the last key seen",
                       f"page {page_number} used OFFSET, which reads and discards every "
                       "earlier row")
                expect(getattr(log[0], "_limit_clause", None) is not None,
                       "the database to stop after `size` rows (LIMIT)",
                       f"page {page_number}'s SELECT fetched the whole table")
                expect(len(page) == SIZE, f"{SIZE} rows on page {page_number} (size={SIZE})",
                       f"yours returned {len(page)}")
                keys = [_key(row, page_number) for row in page]
                expect(page_number > 1 or keys[0][0] == top, f"page 1 to start with the "
                       f"biggest volume, {top}", f"yours started at {keys[0][0]}: order by "
                       "volume descending, then id descending")
                seen += [market_id for _, market_id in keys]
                after = keys[-1]
        finally:
            session.rollback()  # the 40 markets were never committed: the table is unchanged
    repeated = sum(n - 1 for n in Counter(seen).values())
    missing = len(set(expected) - set(seen))
    expect(not repeated, f"{len(expected)} distinct markets over 4 pages",
           f"yours returned {repeated} of them twice: continue strictly after the last "
           "(volume, id), `<` on both columns, in the order of the ORDER BY")
    expect(not missing, f"{len(expected)} distinct markets over 4 pages",
           f"yours returned {len(set(seen) & set(expected))}: rows with equal volume were "
           "skipped at page boundaries (add the id tie-breaker, in the ORDER BY and the WHERE)")
    expect(seen == expected, "the markets in (volume, id) descending order",
           "yours had every market, in another order: sort by volume desc, then id desc")
    passed(f"top_volume_page: {len(expected)} markets with tied volumes over 4 pages, none "
           "skipped or repeated, one seek each")
