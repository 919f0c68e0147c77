"""Lesson 05: projection, the hot query's index, keyset pagination, bulk insert."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, and_, delete, event, func, or_, select, text, tuple_

from evidence import query_optimization as trials
from evidence.grading import WrongAnswer
from evidence.query_optimization_exercise import check_top_volume_page
from patterns import query_optimization as qo
from patterns.db import get_db
from patterns.models import Market, MarketStatus

ROWS = 1_500


@pytest.fixture
def big_app(make_app) -> Flask:
    """An app with ROWS markets and no positions."""
    app = make_app(DEMO_ROWS=0)
    with get_db(app).new_session() as session:
        trials.seed_markets(session, ROWS)
    return app


@contextmanager
def sql_clock(engine: Engine, cost: Callable[[str, Any], float]) -> Iterator[Callable[[], float]]:
    """A clock that moves only when the engine runs a statement, by cost(statement, cursor)."""
    now = [0.0]

    def _tick(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        now[0] += cost(statement, cursor)

    event.listen(engine, "after_cursor_execute", _tick)
    try:
        yield lambda: now[0]
    finally:
        event.remove(engine, "after_cursor_execute", _tick)


def readings(*values: float) -> Callable[[], float]:
    """A clock that returns the given readings in turn, and fails when asked once too often."""
    return iter(values).__next__


@pytest.fixture
def session(big_app: Flask) -> Iterator:
    with get_db(big_app).new_session() as session:
        yield session


def test_hot_query_is_the_top_active_markets_by_volume(session) -> None:
    rows = session.execute(qo.hot_query(10)).all()
    active = sorted((m for m in trials.load_entities(session, ROWS)
                     if m.status == MarketStatus.ACTIVE), key=lambda m: m.volume, reverse=True)
    assert [r.volume for r in rows] == [m.volume for m in active[:10]]
    assert all(r.status == MarketStatus.ACTIVE for r in rows)
    assert rows[0]._fields == ("id", "name", "status", "volume")


def test_projection_returns_the_same_values_as_entities(session) -> None:
    entities = trials.load_entities(session, 300)
    columns = qo.load_columns(session, 300)
    assert [(m.id, m.name, m.status, m.volume) for m in entities] == [tuple(r) for r in columns]


def test_projection_times_entities_as_the_slow_way_and_columns_as_the_fast(big_app: Flask) -> None:
    # The clock moves by the columns each SELECT returns: whole entities carry all eight.
    def columns(_statement: str, cursor: Any) -> float:
        return len(cursor.description or ())

    with sql_clock(get_db(big_app).engine, columns) as clock:
        ratio = trials.projection_speedup(get_db(big_app).new_session, rows=500, repeat=3,
                                          clock=clock)
    assert (ratio.slow, ratio.fast) == (len(Market.__table__.columns), len(qo.LISTED))


def test_projection_speedup_is_the_ratio_of_medians_over_repeat_runs(big_app: Flask) -> None:
    # Three runs each way, two readings per run: entities take 5, 1, 3 s; columns 1, 2, 1 s.
    clock = readings(0, 5, 5, 6, 6, 9, 20, 21, 21, 23, 23, 24)
    ratio = trials.projection_speedup(get_db(big_app).new_session, rows=10, repeat=3, clock=clock)
    assert (ratio.slow, ratio.fast, ratio.speedup) == (3, 1, 3)
    with pytest.raises(StopIteration):  # every reading was used: no fourth run either way
        clock()


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
    (["SEARCH markets USING INDEX ix_f (status=?)",
      "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY"], "ix_f", True),
    (["Limit", "->  Index Scan Backward using ix_g on markets"], "ix_g", False),
])
def test_plans_of_both_backends_normalize_alike(lines: list[str], index: str | None,
                                                  sorts: bool) -> None:
    plan = qo.Plan.from_lines(lines)
    assert (plan.index, plan.sorts, plan.uses_index) == (index, sorts, index is not None)


def test_keyset_pages_walk_the_same_rows_as_offset_pages(session) -> None:
    seen: list[Any] = []
    after = None
    while page := qo.keyset_page(session, after, size=100):
        assert page == qo.offset_page(session, len(seen), size=100)
        seen.extend(page)
        after = page[-1].id
    assert [r.id for r in seen] == sorted(r.id for r in seen) and len(seen) == ROWS


def test_pagination_costs_time_each_way_at_every_depth(session, monkeypatch) -> None:
    depths = trials.depths_for(ROWS, points=4)
    assert depths == [0, 493, 987, 1480]
    # On this clock an OFFSET page takes 10 s and a keyset page 1 s: they must not be swapped.
    now = [0.0]

    def taking(seconds: float, page: Callable[..., Any]) -> Callable[..., Any]:
        def timed_page(*args: Any) -> Any:
            now[0] += seconds
            return page(*args)
        return timed_page

    monkeypatch.setattr(trials, "offset_page", taking(10, qo.offset_page))
    monkeypatch.setattr(trials, "keyset_page", taking(1, qo.keyset_page))
    costs = trials.pagination_costs(session, depths, repeat=3, clock=lambda: now[0])
    assert [(c.depth, c.offset_seconds, c.keyset_seconds, c.ratio) for c in costs] == \
        [(d, 10, 1, 10) for d in depths]


def test_pagination_costs_take_the_median_of_repeat_runs(session) -> None:
    # Runs of 9, 1, 4 s by OFFSET and 2, 6, 2 s by key, in turns, two readings per run.
    clock = readings(*itertools.accumulate([0, 9, 0, 2, 0, 1, 0, 6, 0, 4, 0, 2]))
    costs = trials.pagination_costs(session, [40], repeat=3, clock=clock)
    assert [(c.offset_seconds, c.keyset_seconds) for c in costs] == [(4, 2)]
    with pytest.raises(StopIteration):
        clock()


def test_the_index_serves_a_descending_order_but_not_a_mixed_one(session) -> None:
    qo.analyze(session)
    qo.create_hot_index(session)  # (status, volume): ascending, read backward for DESC
    try:
        assert not qo.explain(session, qo.hot_query()).sorts
        mixed = qo.hot_query().order_by(None).order_by(Market.volume.desc(), Market.id.asc())
        plan = qo.explain(session, mixed)
        assert plan.uses_index and plan.sorts, plan.lines
    finally:
        qo.drop_hot_index(session)


def test_bulk_insert_statement_counts(big_app: Flask) -> None:
    factory = get_db(big_app).new_session
    runs = trials.bulk_insert(factory, 40)
    assert list(runs) == ["commit per row", "add_all", "insert() + dicts", "Core executemany",
                          "fastest path"]
    per_row, add_all, bulk = runs["commit per row"], runs["add_all"], runs["insert() + dicts"]
    assert (per_row.statements, per_row.commits) == (40, 40)
    assert add_all.commits == 1 and 1 <= add_all.statements <= 40
    assert (bulk.statements, bulk.commits) == (1, 1)
    for rung in ("Core executemany", "fastest path"):  # COPY counts as the one statement
        assert (runs[rung].statements, runs[rung].commits) == (1, 1), rung
    with factory() as session:  # every strategy removed its rows again
        assert session.scalar(select(func.count()).select_from(Market)) == ROWS


def test_bulk_insert_times_only_the_insert_of_each_run(big_app: Flask) -> None:
    # One unit per statement (BEGIN aside): only the INSERTs may fall inside a timed run, not
    # the setup's SELECTs, the check or the clean-up's DELETE.
    def cost(statement: str, _cursor: Any) -> float:
        return float(not statement.lstrip().upper().startswith("BEGIN"))

    # Rungs SQLAlchemy sends itself (COPY goes around its events, so this clock cannot see it).
    visible = ["commit per row", "add_all", "insert() + dicts", "Core executemany"]
    with sql_clock(get_db(big_app).engine, cost) as clock:
        runs = trials.bulk_insert(get_db(big_app).new_session, 12, visible, repeat=3,
                                  clock=clock)
    assert {name: run.seconds for name, run in runs.items()} == \
        {name: float(run.statements) for name, run in runs.items()}
    assert runs["commit per row"].seconds == 12 and runs["insert() + dicts"].seconds == 1


@pytest.mark.parametrize("rung", [qo.insert_core, qo.insert_fastest])
def test_every_rung_stores_what_the_orm_stores(big_app: Flask, rung: Callable[..., None]) -> None:
    factory = get_db(big_app).new_session
    with factory() as session:
        rows = trials.market_rows(session, 25)
        session.commit()

    def stored(insert: Callable[..., None]) -> list[tuple[Any, ...]]:
        with factory() as session:
            first = (session.scalar(select(func.max(Market.id))) or 0) + 1
            insert(session, rows)
            markets = session.scalars(select(Market).where(Market.id >= first)
                                      .order_by(Market.id)).all()
            values = [(m.name, m.description, m.status, m.volume, m.created_at, m.closes_at,
                       m.creator_id) for m in markets]
            # And as the driver hands them back: SQLite keeps datetimes as text, whose form a
            # sort or a string comparison sees (sqlite3's own adapter writes another form).
            values += session.execute(text(
                "SELECT status, volume, created_at, closes_at FROM markets WHERE id >= :first "
                "ORDER BY id"), {"first": first}).all()
            session.execute(delete(Market).where(Market.id >= first))
            session.commit()
            return values

    assert stored(rung) == stored(qo.insert_executemany)
    assert len(stored(rung)) == 2 * 25  # each row as the ORM loads it, then as the driver does


def test_the_fastest_path_refuses_names_that_are_not_columns(session) -> None:
    with pytest.raises(ValueError, match="not market columns: volume; DROP TABLE"):
        qo.insert_fastest(session, [{"name": "x", "volume; DROP TABLE": 1}])


def test_market_rows_need_creators(make_app) -> None:
    app = make_app(DEMO_ROWS=0)
    with get_db(app).new_session() as session, pytest.raises(ValueError, match="creators"):
        trials.market_rows(session, 3)



# ---- the exercise's check ------------------------------------------------------------------



def ref(session, after=None, size=20):
    stmt = select(*qo.LISTED).order_by(Market.volume.desc(), Market.id.desc()).limit(size)
    if after is not None:
        stmt = stmt.where(tuple_(Market.volume, Market.id) < after)
    return session.execute(stmt).all()


def alt(session, after=None, size=20):
    stmt = select(Market).order_by(Market.volume.desc(), Market.id.desc())
    if after:
        v, i = after
        stmt = stmt.where(or_(Market.volume < v, and_(Market.volume == v, Market.id < i)))
    return list(session.scalars(stmt.limit(size)))


def notie(session, after=None, size=20):
    stmt = select(*qo.LISTED).order_by(Market.volume.desc()).limit(size)
    if after is not None:
        stmt = stmt.where(Market.volume < after[0])
    return session.execute(stmt).all()


def le(session, after=None, size=20):
    stmt = select(*qo.LISTED).order_by(Market.volume.desc(), Market.id.desc()).limit(size)
    if after is not None:
        stmt = stmt.where(Market.volume <= after[0])
    return session.execute(stmt).all()


def offset(session, after=None, size=20):
    skip = 0
    if after is not None:
        skip = session.scalar(select(func.count()).where(tuple_(Market.volume, Market.id) >= after))
    return session.execute(
        select(*qo.LISTED).order_by(Market.volume.desc(), Market.id.desc()).offset(skip).limit(size)
    ).all()


def asc(session, after=None, size=20):
    stmt = select(*qo.LISTED).order_by(Market.volume, Market.id).limit(size)
    if after is not None:
        stmt = stmt.where(tuple_(Market.volume, Market.id) > after)
    return session.execute(stmt).all()


def mixed(session, after=None, size=20):
    stmt = select(*qo.LISTED).order_by(Market.volume.desc(), Market.id).limit(size)
    if after is not None:
        stmt = stmt.where(tuple_(Market.volume, Market.id) < after)
    return session.execute(stmt).all()


def stub(session, after=None, size=20):
    raise NotImplementedError("your code here")


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (notie, "rows with equal volume were skipped"),
    (le, "twice"),
    (offset, "used OFFSET"),
    (asc, "to start with the biggest volume"),
    (mixed, "twice"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(make_app) -> None:
    app = make_app()
    for answer in (ref, alt):
        check_top_volume_page(answer, get_db(app).new_session)


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(make_app) -> None:
    app = make_app()
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_top_volume_page(answer, get_db(app).new_session)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)
