"""Lesson 02: one contract for both repositories, no commits inside, find_by_ids, seed flaws."""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, LegacyAPIWarning

from evidence.grading import WrongAnswer
from evidence.lab import lesson_app
from evidence.repository import (
    CONTRACT,
    committed_counts,
    find_by_ids_one_by_one,
    half_written_rows,
    memory_harness,
    roll_over,
    run_contract,
    sql_harness,
)
from evidence.repository_exercise import check_close_and_copy
from patterns.db import get_db
from patterns.models import Market, MarketStatus, User
from patterns.query_counter import count_queries
from patterns.repository import (
    InMemoryMarketRepository,
    MarketRepository,
    SqlAlchemyMarketRepository,
    UnknownCreator,
)
from patterns.seed.repository import MarketRepository as SeedMarketRepository


@pytest.fixture
def contract_app(make_app) -> Flask:
    """An app for the contract: every check runs in a transaction that is rolled back."""
    return make_app(DEMO_ROWS=10)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["sqlalchemy", "in_memory"])
def test_contract(kind: str, check, contract_app: Flask) -> None:
    harness = sql_harness(contract_app) if kind == "sqlalchemy" else memory_harness
    with harness() as (repo, creator_id):
        check(repo, creator_id)


def test_contract_leaves_the_demo_rows_alone(contract_app: Flask) -> None:
    before = committed_counts(get_db(contract_app).new_session)
    assert set(run_contract(sql_harness(contract_app)).values()) == {"pass"}
    assert committed_counts(get_db(contract_app).new_session) == before


def test_run_contract_reports_a_broken_repository() -> None:
    class ForgetsOrder(InMemoryMarketRepository):
        def find_by_ids(self, market_ids):  # sorted by id: the order of IN (...) results
            return sorted(super().find_by_ids(market_ids), key=lambda m: m.id)

    broken = ForgetsOrder([User(id=1, name="x", email="x@e")])
    outcomes = run_contract(lambda: nullcontext((broken, 1)))
    assert outcomes["find_by_ids_keeps_the_order_given"].startswith("FAIL AssertionError")
    assert outcomes["find_by_ids_of_nothing_is_empty"] == "pass"


def test_both_implement_the_port(app: Flask) -> None:
    with get_db(app).new_session() as session:
        assert isinstance(SqlAlchemyMarketRepository(session), MarketRepository)
    assert isinstance(InMemoryMarketRepository(), MarketRepository)
    assert not isinstance(SeedMarketRepository(None), MarketRepository)  # no find_by_ids


def test_sql_repository_never_commits(app: Flask) -> None:
    db = get_db(app)
    before = committed_counts(db.new_session)
    with db.new_session() as session:
        repo = SqlAlchemyMarketRepository(session)
        market = repo.create({"name": "uncommitted", "creator_id": 1})
        assert market.id is not None  # flushed: the id exists inside the transaction
        assert committed_counts(db.new_session) == before  # ...but nobody else sees the row
    assert committed_counts(db.new_session) == before  # closing the session dropped it


def test_find_by_ids_is_one_select_in_the_order_given(app: Flask) -> None:
    with get_db(app).new_session() as session:
        repo = SqlAlchemyMarketRepository(session)
        with count_queries() as log:
            markets = repo.find_by_ids([5, 3, 999_999, 5, 1])
        assert [m.id for m in markets] == [5, 3, 1]
        assert log.selects == 1
        with count_queries() as log:
            assert repo.find_by_ids([]) == []
        assert log.count == 0


def test_update_and_delete_see_a_row_deleted_since_it_was_loaded(app: Flask) -> None:
    # The identity map still holds a row another transaction deleted: an UPDATE of it matched
    # 0 rows at flush (StaleDataError, a 500), a DELETE warned and reported True.
    db = get_db(app)
    with db.new_session(write=True) as mine, warnings.catch_warnings():
        warnings.simplefilter("error")
        repo = SqlAlchemyMarketRepository(mine)
        loaded = [repo.find_by_id(1), repo.find_by_id(2)]  # held, as a request holds them
        assert None not in loaded
        mine.commit()  # what a request does between its read and its write
        with db.new_session(write=True) as other:
            other.delete(other.get(Market, 1))
            other.delete(other.get(Market, 2))
            other.commit()
        assert repo.update(1, {"name": "renamed"}) is None
        assert repo.delete(2) is False


def test_one_by_one_costs_a_select_per_id_and_yields_none(app: Flask) -> None:
    with get_db(app).new_session() as session, count_queries() as log:
        found = find_by_ids_one_by_one(session, [1, 2, 999_999])
    assert [m.id if m else None for m in found] == [1, 2, None]
    assert log.selects == 3


def test_seed_find_by_id_uses_legacy_query_get(app: Flask) -> None:
    with get_db(app).new_session() as session:
        with pytest.warns(LegacyAPIWarning, match=r"Query.get\(\) method is considered legacy"):
            market = SeedMarketRepository(session).find_by_id(1)
        assert market is not None and market.id == 1


def _first_active(app: Flask) -> int:
    with get_db(app).new_session() as session:
        return session.scalar(select(Market.id).where(Market.status == MarketStatus.ACTIVE)
                              .order_by(Market.id))


def test_seed_roll_over_is_half_written(app: Flask) -> None:
    db, market_id = get_db(app), _first_active(app)
    before = committed_counts(db.new_session)
    with db.new_session() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyAPIWarning)
        with pytest.raises(IntegrityError):  # the successor's creator does not exist
            roll_over(SeedMarketRepository(session), market_id, {"name": "S", "creator_id": 10**6})
    after = committed_counts(db.new_session)
    assert (after.markets, after.closed) == (before.markets, before.closed + 1)


def test_unit_of_work_roll_over_is_all_or_nothing(app: Flask) -> None:
    db, market_id = get_db(app), _first_active(app)
    before = committed_counts(db.new_session)
    assert half_written_rows(db.new_session, market_id, SqlAlchemyMarketRepository,
                             unit_of_work=True) == 0
    assert committed_counts(db.new_session) == before
    with db.new_session() as session, session.begin():
        roll_over(SqlAlchemyMarketRepository(session), market_id, {"name": "S", "creator_id": 1})
    after = committed_counts(db.new_session)
    assert (after.markets, after.closed) == (before.markets + 1, before.closed + 1)


def test_half_written_rows_of_the_seed_is_one(app: Flask) -> None:
    db = get_db(app)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyAPIWarning)
        assert half_written_rows(db.new_session, _first_active(app), SeedMarketRepository,
                                 unit_of_work=False) == 1


def test_fake_takes_an_injected_clock() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    repo = InMemoryMarketRepository([User(id=1, name="a", email="a@e")], clock=lambda: moment)
    assert repo.create({"name": "A", "creator_id": 1}).created_at == moment


# ---- Lesson 02's exercise: close_and_copy, judged by check_close_and_copy ----

def _reference(session, market_id: int, creator_id: int) -> Market:
    with session.begin():
        repo = SqlAlchemyMarketRepository(session)
        original = repo.find_by_id(market_id)
        repo.update(market_id, {"status": MarketStatus.CLOSED})
        return repo.create({"name": f"Copy of {original.name}",
                            "description": original.description, "creator_id": creator_id})


def _commits_at_the_end(session, market_id: int, creator_id: int) -> Market:
    repo = SqlAlchemyMarketRepository(session)
    original = repo.find_by_id(market_id)
    try:
        copy = repo.create({"name": "Copy of " + original.name, "creator_id": creator_id,
                            "description": original.description})
        repo.update(market_id, {"status": "closed"})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return copy


def _commits_each_step(session, market_id: int, creator_id: int) -> Market:
    repo = SqlAlchemyMarketRepository(session)
    original = repo.find_by_id(market_id)
    repo.update(market_id, {"status": MarketStatus.CLOSED})
    session.commit()
    copy = repo.create({"name": f"Copy of {original.name}", "creator_id": creator_id})
    session.commit()
    return copy


def _never_commits(session, market_id: int, creator_id: int) -> Market:
    repo = SqlAlchemyMarketRepository(session)
    original = repo.find_by_id(market_id)
    repo.update(market_id, {"status": MarketStatus.CLOSED})
    return repo.create({"name": f"Copy of {original.name}", "creator_id": creator_id})


def _swallows(session, market_id: int, creator_id: int) -> Market | None:
    try:
        return _reference(session, market_id, creator_id)
    except UnknownCreator:
        return None


def _stub(session, market_id: int, creator_id: int) -> Market:
    raise NotImplementedError("your code here")


@pytest.fixture(scope="module")
def exercise_app() -> Flask:
    return lesson_app(rows=20)


def _active(app: Flask) -> list[int]:
    with get_db(app).new_session() as session:
        return list(session.scalars(select(Market.id).where(
            Market.status == MarketStatus.ACTIVE).order_by(Market.id)))


@pytest.mark.parametrize("answer", [_reference, _commits_at_the_end])
def test_the_exercise_check_accepts_correct_answers(exercise_app: Flask, answer) -> None:
    copy = check_close_and_copy(answer, get_db(exercise_app).new_session, _active(exercise_app)[0])
    assert copy.name.startswith("Copy of ")


@pytest.mark.parametrize("answer, message", [
    (_commits_each_step, "expected nothing committed when step 2 fails (one unit of work); "
                         "got 1 market(s) closed"),
    (_never_commits, "expected one copy more and one market closed, committed; got 0 more"),
    (_swallows, "expected UnknownCreator to reach the caller"),
    (_stub, "close_and_copy is not written yet"),
])
def test_the_exercise_check_rejects_wrong_answers(exercise_app: Flask, answer,
                                                  message: str) -> None:
    with pytest.raises(WrongAnswer) as info:
        check_close_and_copy(answer, get_db(exercise_app).new_session, _active(exercise_app)[0])
    assert info.value.reason.startswith(message), info.value.reason
