"""The query counter: counts what runs, ignores transaction control, guards a budget."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from evidence.grading import WrongAnswer
from evidence.query_counter_exercise import STATUSES, check_markets_by_status
from patterns.db import get_db
from patterns.models import Market, MarketStatus
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


# ---- lesson 00's exercise check ------------------------------------------------------------

def ref(session):
    rows = session.execute(select(Market.status, func.count()).group_by(Market.status))
    counts = {status.value: 0 for status in MarketStatus}
    counts.update({status.value: n for status, n in rows})
    return counts


def raw_sql(session):  # another correct answer: SQL text, and zeros filled from the enum
    rows = dict(session.execute(text("SELECT status, COUNT(*) FROM markets GROUP BY status")).all())
    return {s: rows.get(s, 0) for s in STATUSES}


def filtered_counts(session):  # another: one row of conditional counts, no GROUP BY at all
    counts = [func.count().filter(Market.status == s) for s in STATUSES]
    row = session.execute(select(*counts)).one()
    return dict(zip(STATUSES, row, strict=True))


def stub(session):
    raise NotImplementedError("your code here")


def python_counter(session):  # every market to Python, counted there
    return dict(Counter(m.status.value for m in session.scalars(select(Market))))


def one_per_status(session):  # N queries
    return {s.value: len(session.scalars(select(Market).where(Market.status == s)).all())
            for s in MarketStatus}


def no_zeros(session):  # GROUP BY alone: a status without markets has no row
    rows = session.execute(select(Market.status, func.count()).group_by(Market.status))
    return {status.value: n for status, n in rows}


def by_name(session):
    rows = session.execute(select(Market.status, func.count()).group_by(Market.status))
    counts = {status.name: 0 for status in MarketStatus}
    counts.update({status.name: n for status, n in rows})
    return counts


def rows_not_a_dict(session):
    return session.execute(select(Market.status, func.count()).group_by(Market.status)).all()


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (python_counter, "with no count(...): all 20 markets came to Python"),
    (one_per_status, "yours sent 3 on the demo data (one per status?)"),
    (no_zeros, "yours left 'resolved' out: GROUP BY has no row"),
    (by_name, "yours had 'ACTIVE', 'CLOSED', 'RESOLVED' on the demo data"),
    (rows_not_a_dict, "expected a dict {status: count}; yours returned list"),
]


def test_the_exercise_check_passes_the_reference_and_other_correct_answers(app: Flask,
                                                                          capsys) -> None:
    for answer in (ref, raw_sql, filtered_counts):
        check_markets_by_status(answer, app)
    assert capsys.readouterr().out.count("✓ markets_by_status: one statement") == 3


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(
        app: Flask) -> None:
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_markets_by_status(answer, app)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)


def test_the_exercise_check_leaves_the_table_as_it_was(app: Flask) -> None:
    with get_db(app).new_session() as session:
        before = ref(session)
    check_markets_by_status(ref, app)
    with pytest.raises(WrongAnswer):
        check_markets_by_status(no_zeros, app)
    with get_db(app).new_session() as session:
        assert ref(session) == before and before["resolved"] > 0


def test_the_exercise_check_sees_an_answer_that_ignores_the_session_it_is_given(app) -> None:
    with get_db(app).new_session() as notebook_session:  # a global of the notebook, say
        with pytest.raises(WrongAnswer) as caught:
            check_markets_by_status(lambda session: ref(notebook_session), app)
    assert "yours returned the same counts as before: count with the `session` argument" in \
        caught.value.reason
