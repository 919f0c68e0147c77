"""Lesson 05: projection, the hot query's index, keyset pagination, bulk insert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from evidence.lab import lesson_app
from patterns import query_optimization as qo
from patterns.db import get_db
from patterns.models import Market, MarketStatus

ROWS = 1_500


@pytest.fixture(scope="module")
def big_app() -> Iterator[Flask]:
    """An app with ROWS markets and no positions (read-only for the tests of this module)."""
    app = lesson_app(rows=0)
    with get_db(app).new_session() as session:
        qo.seed_markets(session, ROWS)
    yield app
    get_db(app).close()


@pytest.fixture
def session(big_app: Flask) -> Iterator:
    with get_db(big_app).new_session() as session:
        yield session


def test_hot_query_is_the_top_active_markets_by_volume(session) -> None:
    rows = session.execute(qo.hot_query(10)).all()
    active = sorted((m for m in qo.load_entities(session, ROWS) if m.status == MarketStatus.ACTIVE),
                    key=lambda m: m.volume, reverse=True)
    assert [r.volume for r in rows] == [m.volume for m in active[:10]]
    assert all(r.status == MarketStatus.ACTIVE for r in rows)
    assert rows[0]._fields == ("id", "name", "status", "volume")


def test_projection_returns_the_same_values_as_entities(session) -> None:
    entities = qo.load_entities(session, 300)
    columns = qo.load_columns(session, 300)
    assert [(m.id, m.name, m.status, m.volume) for m in entities] == [tuple(r) for r in columns]


def test_projection_speedup_measures_both_ways(big_app: Flask) -> None:
    ratio = qo.projection_speedup(get_db(big_app).new_session, rows=500, repeat=1)
    assert ratio.slow > 0 and ratio.fast > 0
    assert ratio.speedup == ratio.slow / ratio.fast


def test_the_hot_index_changes_the_plan(session) -> None:
    qo.analyze(session)
    before = qo.explain(session, qo.hot_query())
    assert not before.uses_index and before.sorts
    assert str(before) == "uses index: no (reads the whole table)\nextra sort step: yes"
    qo.create_hot_index(session)
    try:
        after = qo.explain(session, qo.hot_query())
        assert after.uses_index and after.index == qo.HOT_INDEX and not after.sorts
        assert str(after) == f"uses index: yes ({qo.HOT_INDEX})\nextra sort step: no"
    finally:
        qo.drop_hot_index(session)
    assert not qo.explain(session, qo.hot_query()).uses_index


@pytest.mark.parametrize("lines, index, sorts", [
    (["SCAN markets", "USE TEMP B-TREE FOR ORDER BY"], None, True),
    (["SEARCH markets USING INDEX ix_a (status=?)"], "ix_a", False),
    (["SEARCH markets USING COVERING INDEX ix_b (status=?)"], "ix_b", False),
    (["Limit", "->  Sort", "Sort Key: volume DESC", "->  Seq Scan on markets",
      "Filter: ((status)::text = 'active'::text)"], None, True),
    (["Limit", "->  Index Scan using ix_c on markets", "Index Cond: (x = 1)"], "ix_c", False),
    (["Limit", "->  Incremental Sort", "->  Index Only Scan using ix_d on markets"], "ix_d", True),
    (["Bitmap Heap Scan on markets", "->  Bitmap Index Scan on ix_e"], "ix_e", False),
])
def test_plans_of_both_backends_normalize_alike(lines: list[str], index: str | None,
                                                  sorts: bool) -> None:
    plan = qo.Plan.from_lines(lines)
    assert (plan.index, plan.sorts, plan.uses_index) == (index, sorts, index is not None)


def test_keyset_pages_walk_the_same_rows_as_offset_pages(session) -> None:
    seen, after = [], None
    while page := qo.keyset_page(session, after, size=100):
        assert page == qo.offset_page(session, len(seen), size=100)
        seen.extend(page)
        after = page[-1].id
    assert [r.id for r in seen] == sorted(r.id for r in seen) and len(seen) == ROWS


def test_pagination_costs_cover_every_depth(session) -> None:
    depths = qo.depths_for(ROWS, points=4)
    assert depths == [0, 493, 987, 1480]
    costs = qo.pagination_costs(session, depths, repeat=1)
    assert [c.depth for c in costs] == depths
    assert all(c.offset_seconds > 0 and c.keyset_seconds > 0 for c in costs)


def test_bulk_insert_statement_counts(big_app: Flask) -> None:
    factory = get_db(big_app).new_session
    runs = qo.bulk_insert(factory, 40)
    per_row, add_all, bulk = runs["commit per row"], runs["add_all"], runs["insert() + dicts"]
    assert (per_row.statements, per_row.commits) == (40, 40)
    assert add_all.commits == 1 and 1 <= add_all.statements <= 40
    assert (bulk.statements, bulk.commits) == (1, 1)
    with factory() as session:  # every strategy removed its rows again
        assert session.scalar(select(func.count()).select_from(Market)) == ROWS


def test_market_rows_need_creators() -> None:
    app = lesson_app(rows=0)
    try:
        with get_db(app).new_session() as session, pytest.raises(ValueError, match="creators"):
            qo.market_rows(session, 3)
    finally:
        get_db(app).close()
