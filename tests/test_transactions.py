"""Lesson 07: the seed's transaction() and its bug, session.begin(), savepoints, fault injection."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from evidence import transactions as trials
from evidence.grading import WrongAnswer
from evidence.transactions import check_split_position
from patterns import transactions as tx
from patterns.db import get_db
from patterns.models import Market, Position, Side, User
from patterns.seed import transactions as seed

AMOUNTS = [Decimal("10.00"), Decimal("25.50"), Decimal("4.50")]


def test_seed_usage_builds_the_position_with_no_market_id(app: Flask) -> None:
    factory = get_db(app).new_session
    before = trials.row_counts(factory)
    with factory() as session:
        user = session.get(User, 2)
        with pytest.raises(IntegrityError, match="market_id"):
            seed.seed_usage(session, user)
    assert trials.row_counts(factory) == before  # the seed's rollback worked: nothing half-written


def test_open_position_links_through_the_relationship(app: Flask) -> None:
    factory = get_db(app).new_session
    with factory() as session:
        with tx.transaction(session):
            user = session.get(User, 2)
            position = tx.open_position(session, user, name="Test", side=Side.YES,
                                        amount=Decimal("10.00"))
        market_id = position.market_id
    assert market_id is not None
    with factory() as session:
        assert session.get(Market, market_id).positions[0].amount == Decimal("10.00")


def test_transaction_commits_or_rolls_back(app: Flask) -> None:
    factory = get_db(app).new_session
    before = trials.row_counts(factory)
    with factory() as session, pytest.raises(trials.InjectedFault):
        with tx.transaction(session):
            session.add(User(name="Gone", email="gone@example.com"))
            session.flush()
            raise trials.InjectedFault("boom")
    assert trials.row_counts(factory) == before
    with factory() as session, tx.transaction(session):
        session.add(User(name="Kept", email="kept@example.com"))
    assert trials.row_counts(factory)["users"] == before["users"] + 1


def test_transaction_rolls_back_on_base_exceptions_too(app: Flask) -> None:
    factory = get_db(app).new_session
    before = trials.row_counts(factory)
    with factory() as session:
        with pytest.raises(KeyboardInterrupt), tx.transaction(session):
            session.add(User(name="Ctrl C", email="ctrlc@example.com"))
            session.flush()
            raise KeyboardInterrupt
        assert not session.in_transaction()
    assert trials.row_counts(factory) == before


def test_transaction_refuses_to_nest(app: Flask) -> None:
    with get_db(app).new_session() as session, tx.transaction(session):
        with pytest.raises(InvalidRequestError, match="already begun"):
            with tx.transaction(session):
                pass


def test_a_read_autobegins_so_a_later_begin_is_refused_too(app: Flask) -> None:
    with get_db(app).new_session() as session:
        session.get(User, 2)
        assert session.in_transaction()  # the SELECT began it
        with pytest.raises(InvalidRequestError, match="already begun"), tx.transaction(session):
            pass
        session.rollback()  # the read's transaction ended: the unit of work may begin
        with tx.transaction(session):
            assert session.get(User, 2) is not None


def test_rows_written_reports_only_what_the_block_changed(app: Flask) -> None:
    factory = get_db(app).new_session
    with trials.rows_written(factory) as nothing:
        trials.row_counts(factory)
    assert nothing == {}
    with trials.rows_written(factory) as written, factory() as session, session.begin():
        tx.open_position(session, session.get(User, 2), name="Counted", side=Side.NO,
                         amount=Decimal("1.00"))
    assert written == {"markets": 1, "positions": 1}
    with pytest.raises(IntegrityError), trials.rows_written(factory) as failed:
        with factory() as session, session.begin():
            session.add(User(name="Twin", email="user3@example.com"))
    assert failed == {}  # filled in even when the block raised


def test_savepoints_undo_only_the_failing_rows(app: Flask) -> None:
    factory = get_db(app).new_session
    before = trials.row_counts(factory)
    emails = ["new1@example.com", "user3@example.com", "new2@example.com", "new1@example.com"]
    with factory() as session, tx.transaction(session):
        skipped = tx.add_each_or_skip(session, [User(name="Imported", email=e) for e in emails])
    assert skipped == [1, 3]
    assert trials.row_counts(factory)["users"] == before["users"] + 2


def test_all_or_nothing_under_every_fault(app: Flask) -> None:
    report = trials.inject_faults(get_db(app).new_session,
                                  lambda s, cp: tx.create_opening_book(s, 2, AMOUNTS, cp))
    assert [r.step for r in report.runs] == ["market", "position 1", "position 2", "position 3",
                                             "volume", "commit"]
    assert report.partial_writes == 0
    assert report.control == {"users": 0, "markets": 1, "positions": 3}


def test_seed_style_nesting_leaves_partial_writes(app: Flask) -> None:
    def operation(session, checkpoint):
        seed.open_market_nested(session, session.get(User, 2), AMOUNTS, checkpoint)

    report = trials.inject_faults(get_db(app).new_session, operation)
    assert len(report.runs) == 6
    assert report.partial_writes == 5
    assert report.runs[2].left_behind == {"markets": 1, "positions": 1}


def test_fault_at_counts_steps() -> None:
    fault = trials.FaultAt(2)
    fault("a")
    with pytest.raises(trials.InjectedFault, match="step 2"):
        fault("b")
    assert fault.steps == ["a", "b"]


def test_opening_book_volume_is_the_sum(app: Flask) -> None:
    factory = get_db(app).new_session
    with factory() as session:
        market = tx.create_opening_book(session, 3, AMOUNTS)
        market_id = market.id
    with factory() as session:
        market = session.get(Market, market_id)
        assert market.volume == Decimal("40.00") and len(market.positions) == 3
        assert market.creator.email == "user3@example.com"


def test_opening_book_for_a_missing_user_writes_nothing(app: Flask) -> None:
    factory = get_db(app).new_session
    before = trials.row_counts(factory)
    with factory() as session, pytest.raises(LookupError):
        tx.create_opening_book(session, 9999, AMOUNTS)
    assert trials.row_counts(factory) == before


@pytest.mark.parametrize("hooks, survivors", [(False, 1), (True, 0)])
def test_sqlite_savepoints_need_the_hooks(hooks: bool, survivors: int) -> None:
    with trials.scratch_sqlite(hooks=hooks) as engine, trials.sql_trace(engine) as trace:
        assert trials.rolled_back_savepoint_survivors(engine) == survivors
    assert trace[0] == ("BEGIN" if hooks else "SAVEPOINT sa_savepoint_1")


def test_the_app_engine_rolls_back_released_savepoints(app: Flask) -> None:
    assert trials.rolled_back_savepoint_survivors(get_db(app).engine) == 0
    with get_db(app).new_session() as session:
        assert session.scalar(select(User).where(User.email == "ghost@example.com")) is None



# ---- the exercise's check ------------------------------------------------------------------


def ref(session, position_id, parts, checkpoint=tx.no_fault):
    with tx.transaction(session):
        original = session.get(Position, position_id)
        market_id, user_id, side, amount = (
            original.market_id,
            original.user_id,
            original.side,
            original.amount,
        )
        checkpoint("delete the original")
        session.delete(original)
        session.flush()
        share = (amount / parts).quantize(Decimal("0.01"))
        for i in range(parts):
            checkpoint(f"part {i + 1}")
            part = amount - share * (parts - 1) if i == parts - 1 else share
            session.add(Position(market_id=market_id, user_id=user_id, side=side, amount=part))
            session.flush()


def commit_inside(session, position_id, parts, checkpoint=tx.no_fault):
    original = session.get(Position, position_id)
    checkpoint("delete")
    session.delete(original)
    session.commit()
    share = (original.amount / parts).quantize(Decimal("0.01"))
    for i in range(parts):
        checkpoint(f"part {i + 1}")
        part = original.amount - share * (parts - 1) if i == parts - 1 else share
        session.add(
            Position(
                market_id=original.market_id,
                user_id=original.user_id,
                side=original.side,
                amount=part,
            )
        )
        session.commit()


def swallow(session, position_id, parts, checkpoint=tx.no_fault):
    try:
        ref(session, position_id, parts, checkpoint)
    except Exception:
        session.rollback()


def unrounded(session, position_id, parts, checkpoint=tx.no_fault):
    with tx.transaction(session):
        o = session.get(Position, position_id)
        checkpoint("delete")
        session.delete(o)
        session.flush()
        for i in range(parts):
            checkpoint(f"part {i + 1}")
            session.add(
                Position(
                    market_id=o.market_id, user_id=o.user_id, side=o.side, amount=o.amount / parts
                )
            )
            session.flush()


def stub(session, position_id, parts, checkpoint=tx.no_fault):
    raise NotImplementedError("your code here")


def alt(session, position_id, parts, checkpoint=tx.no_fault):  # correct: the caller's commit
    original = session.get(Position, position_id)
    cents = int(original.amount * 100)
    shares = [Decimal(cents // parts) / 100] * (parts - 1)
    shares.append(original.amount - sum(shares))
    try:
        checkpoint("delete")
        session.delete(original)
        session.flush()
        for n, share in enumerate(shares, 1):
            checkpoint(f"part {n}")
            session.add(
                Position(
                    market_id=original.market_id,
                    user_id=original.user_id,
                    side=original.side,
                    amount=share,
                )
            )
            session.flush()
        session.commit()
    except BaseException:
        session.rollback()
        raise


def no_delete(session, position_id, parts, checkpoint=tx.no_fault):
    with tx.transaction(session):
        o = session.get(Position, position_id)
        checkpoint("delete")
        share = (o.amount / parts).quantize(Decimal("0.01"))
        for i in range(parts):
            checkpoint(f"part {i + 1}")
            part = o.amount - share * (parts - 1) if i == parts - 1 else share
            session.add(
                Position(market_id=o.market_id, user_id=o.user_id, side=o.side, amount=part)
            )
            session.flush()


def one_checkpoint(session, position_id, parts, checkpoint=tx.no_fault):
    with tx.transaction(session):
        o = session.get(Position, position_id)
        checkpoint("split")
        session.delete(o)
        share = (o.amount / parts).quantize(Decimal("0.01"))
        for i in range(parts):
            part = o.amount - share * (parts - 1) if i == parts - 1 else share
            session.add(
                Position(market_id=o.market_id, user_id=o.user_id, side=o.side, amount=part)
            )


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (commit_inside, "deleted for good"),
    (swallow, "caught it and returned normally"),
    (unrounded, "adding up to 99.99"),
    (no_delete, "positions +2"),
    (one_checkpoint, "checkpoint called 4 times"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(make_app) -> None:
    app = make_app()
    for answer in (ref, alt):
        check_split_position(answer, get_db(app).new_session)


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(make_app) -> None:
    app = make_app()
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_split_position(answer, get_db(app).new_session)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)
