"""Lesson 03's evidence: one commit per write use case (none per read), the same use cases on the
fake unit of work and on the database, and the exercise check."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from evidence.grading import call, expect, expect_raises, passed
from evidence.timing import Clock, Ratio, compare
from patterns.db import get_db
from patterns.models import MarketStatus, User
from patterns.semantic_search import MarketSearch
from patterns.service_layer import MarketService
from patterns.unit_of_work import FakeUnitOfWork, SqlAlchemyUnitOfWork

ADA = User(id=1, name="Ada", email="ada@example.com")
NAMES = ("Will Bitcoin close above its yearly high?", "Will London see record rainfall?",
         "Will the ECB cut interest rates this quarter?")


def fake_service(service_class: type[MarketService] = MarketService) -> tuple[MarketService,
                                                                             FakeUnitOfWork]:
    """A service over a fresh fake unit of work holding three markets, its commits reset to 0."""
    uow = FakeUnitOfWork(creators=[ADA])
    service = service_class(uow)
    for name in NAMES:
        service.create({"name": name}, creator_id=ADA.id)
    uow.commits = 0
    return service, uow


def commits_per_use_case() -> dict[str, int]:
    """How many times each use case commits, counted by the fake unit of work."""
    use_cases: dict[str, Callable[[MarketService], object]] = {
        "create": lambda s: s.create({"name": "New"}, creator_id=ADA.id),
        "update": lambda s: s.update(1, {"name": "Renamed"}),
        "update a missing id": lambda s: s.update(999, {"name": "x"}),
        "delete": lambda s: s.delete(2),
        "delete a missing id": lambda s: s.delete(999),
        "get_all": lambda s: s.get_all(),
        "search_markets": lambda s: s.search_markets("interest rates"),
        "index_for_search": lambda s: s.index_for_search(3),
    }
    counts = {}
    for name, use_case in use_cases.items():
        service, uow = fake_service()
        use_case(service)
        counts[name] = uow.commits
    return counts


def scenario(service: MarketService) -> None:
    """A unit test's worth of use cases: three creates, a search, an update, a delete."""
    created = [service.create({"name": name}, creator_id=ADA.id) for name in NAMES]
    assert service.search_markets("central bank lowers interest rates", limit=1)
    service.update(created[0].id, {"name": "Will Bitcoin fall?"})
    service.delete(created[1].id)


def fake_vs_database(app: Flask, repeat: int = 10, *, clock: Clock = time.perf_counter) -> Ratio:
    """The scenario on the app's database (slow) and on the fake unit of work (fast): medians."""
    db = get_db(app)

    def on_database() -> None:
        with app.app_context(), db.new_session() as session:
            scenario(MarketService(SqlAlchemyUnitOfWork(session), search=MarketSearch()))

    def on_fake() -> None:
        scenario(MarketService(FakeUnitOfWork(creators=[ADA])))

    return compare(on_database, on_fake, repeat, clock=clock)


def check_close_market(service_class: type[MarketService]) -> str:
    """Judge a close_market(market_id) use case on the fake: None and no commit when missing,
    ValueError and no commit when resolved, otherwise closed with exactly one commit."""
    service, uow = fake_service(service_class)
    resolved = service.create({"name": "Done", "status": "resolved"}, creator_id=ADA.id)
    uow.commits = 0
    # The learner's method: MarketService has none, so it is looked up by name.
    close = getattr(service, "close_market", None)
    expect(callable(close), "your class to define close_market(self, market_id)",
           f"{service_class.__name__} has none")
    assert close is not None  # for the type checker: expect() raised otherwise
    closed = call("close_market(1)", close, 1)
    expect(getattr(closed, "status", None) == MarketStatus.CLOSED, "market 1 back, closed",
           f"got {closed!r}")
    expect(uow.commits == 1, "one commit for closing market 1", f"got '{uow.commits} commits'")
    missing = call("close_market(999)", close, 999)
    expect(missing is None, "None for a missing market", f"got {missing!r}")
    expect(uow.commits == 1, "no commit for a missing market", f"got {uow.commits - 1} more")
    expect_raises("close_market", ValueError, "ValueError for a resolved market", close,
                  resolved.id)
    expect(resolved.status == MarketStatus.RESOLVED and uow.commits == 1,
           "a resolved market left resolved, and no commit",
           f"got status {resolved.status.value}, {uow.commits - 1} more commits")
    verdict = "close_market: 3 cases hold, 1 commit"
    passed(verdict)
    return verdict

