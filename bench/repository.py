"""repository.*: the contract both repositories pass, half-written writes, find_by_ids trips."""

from __future__ import annotations

import warnings

from sqlalchemy import select
from sqlalchemy.exc import LegacyAPIWarning

from evidence.lab import lesson_app
from evidence.repository import (
    CONTRACT,
    find_by_ids_one_by_one,
    half_written_rows,
    memory_harness,
    run_contract,
    sql_harness,
)
from patterns.db import get_db
from patterns.models import Market, MarketStatus
from patterns.query_counter import count_queries
from patterns.repository import SqlAlchemyMarketRepository
from patterns.seed.repository import MarketRepository as SeedMarketRepository


def figures(quick: bool = False) -> dict[str, float | int]:
    """Contract outcomes, rows a failed two-step write leaves behind, SELECTs to fetch n ids."""
    n = 100 if quick else 1000
    app = lesson_app(rows=n)
    db = get_db(app)
    try:
        outcomes = [*run_contract(sql_harness(app)).values(),
                    *run_contract(memory_harness).values()]
        with db.new_session() as session:
            active = session.scalar(select(Market.id).where(Market.status == MarketStatus.ACTIVE)
                                    .order_by(Market.id))
        uow = half_written_rows(db.new_session, active, SqlAlchemyMarketRepository,
                                unit_of_work=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LegacyAPIWarning)
            seed = half_written_rows(db.new_session, active, SeedMarketRepository,
                                     unit_of_work=False)
        ids = list(range(n, 0, -1))
        with db.new_session() as session, count_queries() as batched:
            SqlAlchemyMarketRepository(session).find_by_ids(ids)
        with db.new_session() as session, count_queries() as one_by_one:
            find_by_ids_one_by_one(session, ids)
    finally:
        db.close()
    return {
        "repository.contract_checks": len(CONTRACT),
        "repository.contract_failures": sum(o != "pass" for o in outcomes),
        "repository.seed_half_written_rows": seed,
        "repository.uow_half_written_rows": uow,
        "repository.find_by_ids_n": n,
        "repository.find_by_ids_selects": batched.selects,
        "repository.one_by_one_selects": one_by_one.selects,
    }
