"""Lesson 02's evidence: one contract every MarketRepository passes, and why the caller commits."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from patterns.db import get_db
from patterns.models import Market, MarketStatus, Position, Role, User
from patterns.repository import (
    InMemoryMarketRepository,
    MarketFilters,
    MarketRepository,
    SqlAlchemyMarketRepository,
    UnknownCreator,
)

# ---- One contract for every MarketRepository ----------------------------------------------

# A harness gives a repository over an empty market table, and the id of a user who exists.
Harness = Callable[[], AbstractContextManager[tuple[MarketRepository, int]]]
Check = Callable[[MarketRepository, int], None]


def _new(repo: MarketRepository, creator_id: int, name: str, **extra: Any) -> Market:
    return repo.create({"name": name, "creator_id": creator_id, **extra})


def create_gives_each_market_its_own_id(repo: MarketRepository, creator_id: int) -> None:
    a, b = _new(repo, creator_id, "A"), _new(repo, creator_id, "B")
    assert a.id is not None and b.id is not None and a.id != b.id


def create_fills_the_defaults(repo: MarketRepository, creator_id: int) -> None:
    market = repo.find_by_id(_new(repo, creator_id, "A").id)
    assert market is not None and market.status == MarketStatus.ACTIVE
    assert market.description == "" and market.creator.id == creator_id


def create_refuses_an_unknown_creator(repo: MarketRepository, creator_id: int) -> None:
    try:
        _new(repo, creator_id + 10**6, "orphan")
    except UnknownCreator:
        return
    raise AssertionError("a market was created for a user who does not exist")


def create_refuses_unknown_fields(repo: MarketRepository, creator_id: int) -> None:
    try:
        _new(repo, creator_id, "A", id=7)
    except ValueError:
        return
    raise AssertionError("create accepted a field that is not writable")


def find_by_id_of_a_missing_id_is_none(repo: MarketRepository, creator_id: int) -> None:
    assert repo.find_by_id(10**6) is None


def find_all_pages_in_id_order(repo: MarketRepository, creator_id: int) -> None:
    ids = [_new(repo, creator_id, f"M{i}").id for i in range(5)]
    first, second = repo.find_all(limit=3), repo.find_all(limit=3, offset=3)
    assert [m.id for m in first + second] == sorted(ids)


def find_all_filters_by_status(repo: MarketRepository, creator_id: int) -> None:
    _new(repo, creator_id, "open")
    closed = _new(repo, creator_id, "shut", status=MarketStatus.CLOSED)
    found = repo.find_all(filters=MarketFilters(status="closed"))
    assert [m.id for m in found] == [closed.id]


def find_by_ids_keeps_the_order_given(repo: MarketRepository, creator_id: int) -> None:
    a, b, c = (_new(repo, creator_id, n).id for n in "ABC")
    assert [m.id for m in repo.find_by_ids([c, a, b])] == [c, a, b]


def find_by_ids_skips_missing_and_repeated_ids(repo: MarketRepository, creator_id: int) -> None:
    a, b = _new(repo, creator_id, "A").id, _new(repo, creator_id, "B").id
    assert [m.id for m in repo.find_by_ids([b, 10**6, a, b])] == [b, a]


def find_by_ids_of_nothing_is_empty(repo: MarketRepository, creator_id: int) -> None:
    assert repo.find_by_ids([]) == []


def update_sets_the_given_fields(repo: MarketRepository, creator_id: int) -> None:
    market = _new(repo, creator_id, "old", description="kept")
    repo.update(market.id, {"name": "new"})
    again = repo.find_by_id(market.id)
    assert again is not None and (again.name, again.description) == ("new", "kept")


def update_of_a_missing_id_is_none(repo: MarketRepository, creator_id: int) -> None:
    assert repo.update(10**6, {"name": "x"}) is None


def update_refuses_unknown_fields(repo: MarketRepository, creator_id: int) -> None:
    market = _new(repo, creator_id, "A")
    try:
        repo.update(market.id, {"nmae": "typo"})
    except ValueError:
        return
    raise AssertionError("update accepted a field that does not exist")


def delete_is_true_once_then_false(repo: MarketRepository, creator_id: int) -> None:
    market = _new(repo, creator_id, "A")
    assert repo.delete(market.id) is True
    assert repo.delete(market.id) is False


def a_deleted_market_is_gone_everywhere(repo: MarketRepository, creator_id: int) -> None:
    keep, gone = _new(repo, creator_id, "keep"), _new(repo, creator_id, "gone")
    repo.delete(gone.id)
    assert repo.find_by_id(gone.id) is None
    assert [m.id for m in repo.find_all()] == [keep.id]
    assert [m.id for m in repo.find_by_ids([gone.id, keep.id])] == [keep.id]


CONTRACT: tuple[Check, ...] = (
    create_gives_each_market_its_own_id, create_fills_the_defaults,
    create_refuses_an_unknown_creator, create_refuses_unknown_fields,
    find_by_id_of_a_missing_id_is_none, find_all_pages_in_id_order, find_all_filters_by_status,
    find_by_ids_keeps_the_order_given, find_by_ids_skips_missing_and_repeated_ids,
    find_by_ids_of_nothing_is_empty, update_sets_the_given_fields, update_of_a_missing_id_is_none,
    update_refuses_unknown_fields, delete_is_true_once_then_false,
    a_deleted_market_is_gone_everywhere,
)


def sql_harness(app: Flask) -> Harness:
    """The SQLAlchemy adapter, each check inside one transaction that is rolled back afterwards."""

    @contextmanager
    def harness() -> Iterator[tuple[MarketRepository, int]]:
        with get_db(app).new_session() as session:
            try:
                # Empty the market table for this check only: the rollback brings the rows back.
                session.execute(delete(Position))
                session.execute(delete(Market))
                creator_id = session.scalar(select(User.id).order_by(User.id).limit(1))
                if creator_id is None:
                    user = User(name="Contract", email="contract@example.com", role=Role.USER)
                    session.add(user)
                    session.flush()
                    creator_id = user.id
                yield SqlAlchemyMarketRepository(session), creator_id
            finally:
                session.rollback()  # possible only because the repository never commits

    return harness


@contextmanager
def memory_harness() -> Iterator[tuple[MarketRepository, int]]:
    """The in-memory fake with one known user."""
    yield InMemoryMarketRepository([User(id=1, name="Contract", email="c@example.com")]), 1


def run_contract(harness: Harness, checks: tuple[Check, ...] = CONTRACT) -> dict[str, str]:
    """Each check's name and outcome: 'pass', or the failure as one line."""
    outcomes = {}
    for check in checks:
        try:
            with harness() as (repo, creator_id):
                check(repo, creator_id)
            outcomes[check.__name__] = "pass"
        except Exception as exc:  # a report, not a test run: keep going and say what failed
            outcomes[check.__name__] = f"FAIL {type(exc).__name__}: {exc}".strip()
    return outcomes


# ---- Why the commit belongs to the caller (lesson 02, bench/repository.py) -----------------

@dataclass(frozen=True)
class RowCounts:
    """What is committed: how many markets, how many of them closed."""

    markets: int
    closed: int


def committed_counts(session_factory: Callable[[], Session]) -> RowCounts:
    """Count committed rows through a fresh session (it sees nothing uncommitted)."""
    with session_factory() as session:
        markets = session.scalar(select(func.count()).select_from(Market)) or 0
        closed = session.scalar(select(func.count()).select_from(Market)
                                .where(Market.status == MarketStatus.CLOSED)) or 0
    return RowCounts(markets, closed)


def roll_over(repo: Any, market_id: int, successor: Mapping[str, Any]) -> Market:
    """Close a market and open its successor: two writes that must happen together or not at all."""
    repo.update(market_id, {"status": MarketStatus.CLOSED})
    return repo.create(successor)


def half_written_rows(session_factory: Callable[[], Session], market_id: int,
                      make_repo: Callable[[Session], Any], *, unit_of_work: bool) -> int:
    """Rows a roll-over leaves changed when its second step fails (a creator who does not exist)."""
    before = committed_counts(session_factory)
    successor = {"name": "Successor", "creator_id": 10**6}
    with session_factory() as session:
        try:
            if unit_of_work:
                with session.begin():  # one transaction: commit at the end, roll back on error
                    roll_over(make_repo(session), market_id, successor)
            else:
                roll_over(make_repo(session), market_id, successor)
        except Exception:
            session.rollback()
    after = committed_counts(session_factory)
    return abs(after.markets - before.markets) + abs(after.closed - before.closed)


def find_by_ids_one_by_one(session: Session, market_ids: Sequence[int]) -> list[Market | None]:
    """The find_by_ids most of us write first: one SELECT per id, and None where one is missing."""
    return [session.get(Market, i) for i in market_ids]
