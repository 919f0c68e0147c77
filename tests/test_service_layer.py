"""Lesson 03: the service over the fake unit of work, its unit of work, the seed's service, the
search endpoint it serves, and the lesson's evidence and exercise check."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import LegacyAPIWarning

from evidence.grading import WrongAnswer
from evidence.service_layer import (
    check_close_market,
    commits_per_use_case,
    fake_service,
    fake_vs_database,
)
from patterns.db import get_db
from patterns.models import Market, MarketEmbedding, MarketStatus, User
from patterns.repository import InMemoryMarketRepository, UnknownCreator
from patterns.seed.repository import MarketRepository as SeedMarketRepository
from patterns.seed.service_layer import MarketService as SeedMarketService
from patterns.semantic_search import HashingEmbedder, MarketSearch
from patterns.service_layer import MarketService
from patterns.unit_of_work import FakeUnitOfWork, SqlAlchemyUnitOfWork

USERS = [User(id=1, name="Ada", email="ada@example.com"), User(id=2, name="Alan", email="a@e")]
MODEL = HashingEmbedder().name


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork(creators=USERS)


@pytest.fixture
def service(uow: FakeUnitOfWork) -> MarketService:
    """A service over the fake: no database, three markets, commits counted from 0."""
    svc = MarketService(uow)
    for name in ("Will Bitcoin close above its yearly high?", "Will London see record rainfall?",
                 "Will the ECB cut interest rates this quarter?"):
        svc.create({"name": name}, creator_id=1)
    uow.commits = 0
    return svc


def names(results: list[Any]) -> list[str]:
    return [r.market.name for r in results]


# ---- the service over the fake unit of work ----

def test_each_write_commits_once_and_reads_never(service: MarketService,
                                                 uow: FakeUnitOfWork) -> None:
    created = service.create({"name": "New", "status": "closed"}, creator_id=2)
    assert created.status == MarketStatus.CLOSED and created.creator.name == "Alan"
    service.update(created.id, {"name": "Renamed"})
    service.delete(created.id)
    assert uow.commits == 3
    service.get_all(status="active")
    service.get_by_id(1)
    service.search_markets("bitcoin")
    assert uow.commits == 3 and uow.rollbacks == 0


def test_missing_ids_do_not_commit(service: MarketService, uow: FakeUnitOfWork) -> None:
    assert service.update(999, {"name": "x"}) is None
    assert service.delete(999) is False
    assert uow.commits == 0 and not uow.committed


def test_a_failed_write_rolls_back_and_does_not_commit(service: MarketService,
                                                       uow: FakeUnitOfWork) -> None:
    with pytest.raises(UnknownCreator):
        service.create({"name": "Orphan"}, creator_id=99)
    assert uow.commits == 0 and uow.rollbacks == 1
    service.update(1, {"name": "Fine"})
    assert uow.commits == 1 and uow.rollbacks == 1  # a block that ends normally: no rollback


def test_get_all_filters_and_pages(service: MarketService) -> None:
    service.update(2, {"status": "closed"})
    assert [m.id for m in service.get_all(status="active")] == [1, 3]
    assert [m.id for m in service.get_all(limit=1, offset=1)] == [2]


# ---- the seed's search use case, served by the service with an in-memory index ----

def test_search_finds_paraphrases_best_first(service: MarketService) -> None:
    results = service.search_markets("central bank lowers interest rates", limit=3)
    assert names(results)[0] == "Will the ECB cut interest rates this quarter?"
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_search_limit_and_blank_query(service: MarketService) -> None:
    assert len(service.search_markets("will", limit=1)) <= 1
    assert service.search_markets("   ") == []  # no features, no similarity, no results
    with pytest.raises(ValueError):
        service.search_markets("bitcoin", limit=0)
    with pytest.raises(ValueError):
        service.search_markets("bitcoin", limit=51)


def test_ties_are_ordered_by_id() -> None:
    svc = MarketService(FakeUnitOfWork(creators=USERS))
    for _ in range(4):
        svc.create({"name": "Will Solana flip Ethereum?"}, creator_id=1)
    results = svc.search_markets("Solana", limit=3)
    assert [r.market.id for r in results] == [1, 2, 3]
    assert len({r.score for r in results}) == 1


def test_index_follows_create_update_delete(service: MarketService) -> None:
    def top(q: str) -> int | None:
        results = service.search_markets(q, limit=1)
        return results[0].market.id if results else None

    top("volcano")  # builds the index before the writes
    market = service.create({"name": "Will the volcano erupt?"}, creator_id=1)
    assert top("volcano") == market.id
    service.update(market.id, {"name": "Will the glacier melt?"})
    assert top("glacier") == market.id and top("volcano") != market.id
    service.delete(market.id)
    assert top("glacier") != market.id


def test_a_market_deleted_behind_the_index_is_dropped_and_forgotten() -> None:
    uow, search = FakeUnitOfWork(creators=USERS), MarketSearch()
    svc = MarketService(uow, search=search)
    keep = svc.create({"name": "Will Kenya hold elections?"}, creator_id=1)
    gone = svc.create({"name": "Will Kenya win the cup?"}, creator_id=1)
    svc.search_markets("Kenya")  # builds the index
    uow.markets.delete(gone.id)  # another worker, bypassing this service and its index
    assert gone.id in search
    assert [r.market.id for r in svc.search_markets("Kenya")] == [keep.id]
    assert gone.id not in search  # healed


def test_index_for_search_is_idempotent_and_converges(service: MarketService,
                                                     uow: FakeUnitOfWork) -> None:
    store = uow.embeddings  # the fake's vectors, beside its rows, in one unit of work
    assert service.index_for_search(1) is True and service.index_for_search(1) is True
    assert store.count(MODEL, 1) == 1 and store.count(MODEL) == 3
    uow.markets.delete(1)
    assert service.index_for_search(1) is False and store.count(MODEL, 1) == 0
    assert service.index_for_search(1) is False  # still idempotent
    assert service.remove_from_search(2) is True and service.remove_from_search(2) is False
    assert store.count(MODEL) == 1 and uow.commits == 6  # each use case commits once


# ---- the unit of work ----

def test_the_fake_unit_of_work_keeps_its_store_beside_its_repository() -> None:
    markets = InMemoryMarketRepository(USERS)
    uow = FakeUnitOfWork(markets)
    assert uow.markets is markets and not uow.committed
    MarketService(uow).create({"name": "Will Chicago see snow?"}, creator_id=1)
    assert uow.committed and uow.commits == 1 and uow.embeddings.count(MODEL) == 1


def test_the_sql_unit_of_work_commits_market_and_vector_together(app: Flask) -> None:
    db = get_db(app)
    with app.app_context(), db.new_session() as session:
        service = MarketService(SqlAlchemyUnitOfWork(session))
        with pytest.raises(UnknownCreator):
            service.create({"name": "Orphan"}, creator_id=10**6)
        assert not session.in_transaction()  # rolled back by the unit of work, not left open
        market = service.create({"name": "Will the volcano erupt?"}, creator_id=1)
    with db.new_session() as reader:  # committed: another session sees both rows
        assert reader.get(Market, market.id) is not None
        assert reader.scalar(select(func.count()).select_from(MarketEmbedding)
                             .where(MarketEmbedding.market_id == market.id)) == 1


def test_a_rolled_back_unit_of_work_leaves_no_market_and_no_vector(app: Flask) -> None:
    db = get_db(app)
    with app.app_context(), db.new_session() as session:
        uow = SqlAlchemyUnitOfWork(session)
        with pytest.raises(RuntimeError), uow:
            market = uow.markets.create({"name": "Half-written", "creator_id": 1})
            MarketSearch().index(uow.embeddings, [(market.id, "Half-written")])
            raise RuntimeError("step 3 fails")
    with db.new_session() as reader:
        assert reader.scalar(select(func.count()).select_from(Market)
                             .where(Market.name == "Half-written")) == 0
        assert reader.scalar(select(func.count()).select_from(MarketEmbedding)) == 0


# ---- the seed's service ----

def test_seed_service_called_statically_fails() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'query'"):
        SeedMarketService.search_markets("bitcoin")


def test_seed_service_needs_a_find_by_ids_its_repository_lacks(app: Flask) -> None:
    from patterns.seed import rag

    with get_db(app).new_session() as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", LegacyAPIWarning)
        rag.index_markets([(1, "Bitcoin")])
        with pytest.raises(AttributeError, match="find_by_ids"):
            SeedMarketService(SeedMarketRepository(session)).search_markets("bitcoin")


# ---- the search endpoint the service serves ----

def test_search_endpoint_answers_ranked_markets(client: FlaskClient) -> None:
    response = client.get("/api/markets/search?q=heavy%20rain&limit=3")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True and body["meta"] == {"q": "heavy rain", "limit": 3, "count": 3}
    assert "rainfall" in body["data"][0]["market"]["name"]
    scores = [hit["score"] for hit in body["data"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query", ["", "?q=", "?q=%20", "?q=" + "x" * 201, "?q=x&limit=0",
                                   "?q=x&limit=51", "?q=x&limit=ten", "?q=x&sort=score"])
def test_search_endpoint_rejects_bad_input(client: FlaskClient, query: str) -> None:
    response = client.get("/api/markets/search" + query)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"].startswith("invalid query parameters")


def test_search_index_follows_the_api_writes(client: FlaskClient, auth) -> None:
    def top(q: str) -> int | None:
        data = client.get(f"/api/markets/search?q={q}&limit=1").get_json()["data"]
        return data[0]["market"]["id"] if data else None

    top("volcano")  # builds the index before the writes
    created = client.post("/api/markets", json={"name": "Will the volcano erupt?"},
                          headers=auth.headers())
    new_id = created.get_json()["data"]["id"]
    assert top("volcano") == new_id
    client.put(created.headers["Location"], json={"name": "Will the glacier melt?"},
               headers=auth.headers())
    assert top("glacier") == new_id and top("volcano") != new_id
    client.delete(created.headers["Location"], headers=auth.headers())
    assert top("glacier") != new_id


# ---- the evidence and the exercise check ----

def test_writes_commit_once_each_reads_and_missing_ids_never() -> None:
    assert commits_per_use_case() == {
        "create": 1, "update": 1, "update a missing id": 0, "delete": 1,
        "delete a missing id": 0, "get_all": 0, "search_markets": 0, "index_for_search": 1}


def test_fake_vs_database_is_timed_with_an_injected_clock(app: Flask) -> None:
    ticks = iter(range(10_000))
    ratio = fake_vs_database(app, repeat=3, clock=lambda: next(ticks) / 1000)
    assert (ratio.slow, ratio.fast) == pytest.approx((0.001, 0.001))
    with get_db(app).new_session() as session:  # the database runs really happened: 3 x 3 - 3
        assert session.scalar(select(func.count()).select_from(Market)) == 20 + 6


class WithClose(MarketService):
    """The reference answer of the exercise."""

    def close_market(self, market_id: int) -> Market | None:
        market = self.get_by_id(market_id)
        if market is None:
            return None
        if market.status == MarketStatus.RESOLVED:
            raise ValueError(f"market {market_id} is resolved; it cannot be closed")
        return self.update(market_id, {"status": "closed"})


class ClosesResolved(MarketService):
    def close_market(self, market_id: int) -> Market | None:
        return self.update(market_id, {"status": "closed"})


class CommitsTwice(MarketService):
    def close_market(self, market_id: int) -> Market | None:
        market = self.get_by_id(market_id)
        if market is not None and market.status == MarketStatus.RESOLVED:
            raise ValueError("resolved")
        closed = self.update(market_id, {"status": "closed"})
        self._uow.commit()  # "to be sure": update has committed already
        return closed


class NeverCommits(MarketService):
    def close_market(self, market_id: int) -> Market | None:
        market = self.get_by_id(market_id)
        if market is None:
            return None
        if market.status == MarketStatus.RESOLVED:
            raise ValueError("resolved")
        return self._uow.markets.update(market_id, {"status": MarketStatus.CLOSED})


class ReturnsFalseWhenMissing(MarketService):
    def close_market(self, market_id: int) -> Market | bool | None:
        market = self.get_by_id(market_id)
        if market is None:
            return False
        if market.status == MarketStatus.RESOLVED:
            raise ValueError("resolved")
        return self.update(market_id, {"status": "closed"})


def test_the_exercise_check_accepts_the_reference_answer() -> None:
    assert check_close_market(WithClose) == "close_market: 3 cases hold, 1 commit"
    _, uow = fake_service(WithClose)
    assert uow.commits == 0 and len(uow.markets.find_all()) == 3


@pytest.mark.parametrize("wrong, message", [
    (ClosesResolved, "expected ValueError for a resolved market; got no error"),
    (CommitsTwice, "expected one commit for closing market 1; got '2 commits'"),
    (NeverCommits, "expected one commit for closing market 1; got '0 commits'"),
    (ReturnsFalseWhenMissing, "expected None for a missing market; got False"),
    (MarketService, "expected your class to define close_market(self, market_id); "
                    "MarketService has none"),
])
def test_the_exercise_check_rejects_plausible_wrong_answers(wrong: type[MarketService],
                                                            message: str) -> None:
    with pytest.raises(WrongAnswer) as info:
        check_close_market(wrong)
    assert info.value.reason == message


class Stub(MarketService):
    def close_market(self, market_id: int) -> Market | None:
        raise NotImplementedError("your code here")


class PassBody(MarketService):
    def close_market(self, market_id: int) -> Market | None:
        pass


@pytest.mark.parametrize("answer, message", [
    (Stub, "close_market(1) is not written yet"),
    (PassBody, "expected market 1 back, closed; got None"),
])
def test_the_exercise_check_tells_the_stub_and_an_empty_answer_apart(
        answer: type[MarketService], message: str) -> None:
    with pytest.raises(WrongAnswer, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_close_market(answer)
