"""The query counter: counts what runs, ignores transaction control, guards a budget."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from patterns.db import get_db
from patterns.models import Market
from patterns.query_counter import TooManyQueries, assert_max_queries, count_queries


def test_counts_lazy_loads_one_per_creator(app: Flask) -> None:
    with get_db(app).new_session() as session, count_queries() as q:
        markets = session.scalars(select(Market).order_by(Market.id).limit(10)).all()
        _ = [m.creator.name for m in markets]
    assert q.count == 11 and q.selects == 11
    assert all(not s.upper().startswith(("BEGIN", "COMMIT")) for s in q.statements)


def test_scoped_to_one_engine(app: Flask) -> None:
    engine = get_db(app).engine
    with get_db(app).new_session() as session, count_queries(engine) as q:
        session.get(Market, 1)
        session.commit()
    assert q.count == 1 and q.of_kind("select") == q.statements


def test_nothing_is_recorded_after_the_block(app: Flask) -> None:
    with count_queries() as q:
        pass
    with get_db(app).new_session() as session:
        session.get(Market, 1)
    assert q.count == 0


def test_assert_max_queries_fails_with_the_statements_listed(app: Flask) -> None:
    with get_db(app).new_session() as session:
        with pytest.raises(TooManyQueries, match="at most 2 statements, ran 4"):
            with assert_max_queries(2):
                for i in (1, 2, 3, 4):
                    session.get(Market, i)
        with assert_max_queries(1) as q:
            session.get(Market, 5)
        assert q.count == 1


def test_api_list_does_not_grow_with_page_size(app: Flask) -> None:
    client = app.test_client()
    counts = []
    for limit in (1, 5, 20):
        with count_queries(get_db(app).engine) as q:
            assert client.get(f"/api/markets?limit={limit}").status_code == 200
        counts.append(q.count)
    assert counts[0] == counts[1] == counts[2] == 1
