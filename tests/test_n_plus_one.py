"""Lesson 06: N+1 counted, eager loading by shape, and guards that keep the API free of N+1."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import joinedload, raiseload, selectinload

from evidence import n_plus_one as trials
from evidence.grading import WrongAnswer
from evidence.n_plus_one import check_load_book
from patterns import n_plus_one as npo
from patterns.db import get_db
from patterns.models import Market, Position
from patterns.query_counter import TooManyQueries, assert_max_queries, count_queries


@pytest.mark.parametrize("n", [1, 7, 20])
def test_lazy_loading_costs_one_select_per_market(app: Flask, n: int) -> None:
    factory = get_db(app).new_session
    assert trials.statements(factory, n, "lazy") == n + 1
    assert trials.statements(factory, n, "joined") == 1
    assert trials.statements(factory, n, "selectin") == 2


def test_every_strategy_reads_the_same_names(app: Flask) -> None:
    with get_db(app).new_session() as session:
        names = {s: npo.creator_names(session, 20, s) for s in npo.STRATEGIES}
        session.expunge_all()
    assert names["lazy"] == names["joined"] == names["selectin"]
    assert len(set(names["lazy"])) > 1


def test_statement_curve_is_linear_only_for_lazy(app: Flask) -> None:
    curve = trials.statement_curve(get_db(app).new_session, [5, 10, 20])
    assert curve == {"lazy": [6, 11, 21], "joined": [1, 1, 1], "selectin": [2, 2, 2]}


@pytest.mark.parametrize(("creators", "expected"), [(20, 21), (5, 6), (1, 2)])
def test_lazy_loading_costs_one_select_per_distinct_creator(app: Flask, creators: int,
                                                            expected: int) -> None:
    factory = get_db(app).new_session
    # The identity map serves a creator already loaded: 1 + distinct creators, not 1 + N.
    assert trials.shared_creator_statements(factory, 20, creators) == expected
    with factory() as session:  # and the reassignment was rolled back
        owners = session.scalars(select(Market.creator_id).order_by(Market.id).limit(20)).all()
    assert owners == list(range(1, 21))


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        npo.loader("eager")


def test_joinedload_on_a_collection_repeats_the_parent_columns(app: Flask) -> None:
    with get_db(app).new_session() as session:
        shapes = trials.loading_shapes(session, 10)
    one = shapes[("creator (many-to-one)", "joined")]
    assert (one.statements, one.rows) == (1, 10)
    joined = shapes[("positions (collection)", "joined")]
    selectin = shapes[("positions (collection)", "selectin")]
    assert (joined.statements, joined.rows) == (1, 30)  # 3 positions per demo market
    assert (selectin.statements, selectin.rows) == (2, 40)
    assert joined.cells > selectin.cells  # the market's columns, sent once per position


def test_raiseload_turns_a_lazy_load_into_an_error(app: Flask) -> None:
    with get_db(app).new_session() as session:
        markets = npo.strict_markets(session, 5)
        assert [m.creator.name for m in markets]  # loaded eagerly: allowed
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = markets[0].positions


def test_assert_max_queries_catches_the_lazy_loop(app: Flask) -> None:
    with get_db(app).new_session() as session:
        with pytest.raises(TooManyQueries, match="expected at most 1 statements, ran 6"):
            with assert_max_queries(1):
                npo.creator_names(session, 5, "lazy")
        session.expunge_all()
        with assert_max_queries(1):
            npo.creator_names(session, 5, "joined")


@pytest.mark.parametrize("limit", [1, 5, 20])
def test_market_list_does_not_grow_with_page_size(client: FlaskClient, limit: int) -> None:
    # The project's own guard against N+1: GET /api/markets serializes each market's creator.
    with assert_max_queries(1):
        response = client.get(f"/api/markets?limit={limit}")
    assert len(response.get_json()["data"]) == limit
    assert all(m["creator"]["name"] for m in response.get_json()["data"])


def test_api_statements_are_the_same_for_every_page_size(client: FlaskClient) -> None:
    assert trials.api_statements(client, 2) == trials.api_statements(client, 20) == 1


def test_speedup_times_the_lazy_loop_as_slow_and_the_joined_loop_as_fast(app: Flask) -> None:
    # A clock that ticks once per statement: the lazy loop over 20 markets takes 21, joined 1.
    engine = get_db(app).engine
    with count_queries(engine) as log:
        ratio = trials.n_plus_one_speedup(get_db(app).new_session, n=20, repeat=3,
                                          clock=lambda: log.count)
    assert (ratio.slow, ratio.fast, ratio.speedup) == (21, 1, 21)
    assert log.count == 3 * 21 + 3 * 1  # repeat is honoured: three runs of each loop


def test_speedup_is_the_ratio_of_medians(app: Flask) -> None:
    # Lazy runs of 7, 2, 30 s and joined runs of 1, 3, 2 s, two readings per run.
    clock = iter([0, 7, 7, 9, 9, 39, 40, 41, 41, 44, 44, 46]).__next__
    ratio = trials.n_plus_one_speedup(get_db(app).new_session, n=5, repeat=3, clock=clock)
    assert (ratio.slow, ratio.fast, ratio.speedup) == (7, 2, 3.5)
    with pytest.raises(StopIteration):  # every reading was used, and no more
        clock()



# ---- the exercise's check ------------------------------------------------------------------



def ref(session, n):
    stmt = (
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(selectinload(Market.positions).joinedload(Position.user), raiseload("*"))
    )
    return session.scalars(stmt).all()


def alt(session, n):
    return list(
        session.scalars(
            select(Market)
            .options(
                raiseload("*"), selectinload(Market.positions).options(joinedload(Position.user))
            )
            .where(Market.id.in_(select(Market.id).order_by(Market.id).limit(n)))
            .order_by(Market.id)
        )
    )


def selsel(session, n):
    stmt = (
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(selectinload(Market.positions).selectinload(Position.user))
    )
    return session.scalars(stmt).all()


def noraise(session, n):
    stmt = (
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(selectinload(Market.positions).joinedload(Position.user))
    )
    return session.scalars(stmt).all()


def nouser(session, n):
    stmt = (
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(selectinload(Market.positions), raiseload("*"))
    )
    return session.scalars(stmt).all()


def lazyuser(session, n):
    stmt = select(Market).order_by(Market.id).limit(n).options(selectinload(Market.positions))
    return session.scalars(stmt).all()


def joinedcoll(session, n):
    stmt = (
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(joinedload(Market.positions).joinedload(Position.user), raiseload("*"))
    )
    return session.scalars(stmt).unique().all()


def none(session, n):
    pass


def rows(session, n):
    return session.execute(
        select(Market)
        .order_by(Market.id)
        .limit(n)
        .options(selectinload(Market.positions).joinedload(Position.user), raiseload("*"))
    ).all()


def stub(session, n):
    raise NotImplementedError("your code here: one select(Market) with loader options")


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (selsel, "your load_book sent 3"),
    (noraise, "to raise (raiseload"),
    (nouser, "'Position.user' is not available"),
    (lazyuser, "a relationship is still lazy"),
    (joinedcoll, "your load_book sent 1"),
    (none, "load_book returned None"),
    (rows, "returned Row"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(make_app) -> None:
    app = make_app()
    for answer in (ref, alt):
        check_load_book(answer, get_db(app).new_session)


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(make_app) -> None:
    app = make_app()
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_load_book(answer, get_db(app).new_session)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)
