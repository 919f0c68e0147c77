"""Lesson 07's evidence: a fault at every step, and SQLite savepoints with and without hooks."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session

from evidence.grading import WrongAnswer, expect, passed
from patterns.db import sqlite_hooks
from patterns.models import Base, Market, Position, Side, User
from patterns.transactions import Checkpoint

# ---- the SQLite driver's quirk ------------------------------------------------------------

@contextmanager
def scratch_sqlite(*, hooks: bool) -> Iterator[Engine]:
    """A throwaway SQLite database, with or without the BEGIN/SAVEPOINT hooks of patterns.db."""
    with tempfile.TemporaryDirectory(prefix="workbook-tx-") as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'tx.sqlite3'}")
        if hooks:
            sqlite_hooks(engine)
        Base.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def sql_trace(engine: Engine) -> Iterator[list[str]]:
    """Every statement an engine sends, BEGIN and SAVEPOINT included, plus COMMIT/ROLLBACK calls."""
    lines: list[str] = []

    def _statement(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        lines.append(" ".join(statement.split()))

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("before_cursor_execute", _statement),
        ("commit", lambda _c: lines.append("(driver commit)")),
        ("rollback", lambda _c: lines.append("(driver rollback)")),
    ]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield lines
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)


def rolled_back_savepoint_survivors(engine: Engine) -> int:
    """Write in a savepoint, release it, roll the outer transaction back: rows that survive."""
    with Session(engine) as session:
        session.begin()
        with session.begin_nested():
            session.add(User(name="Ghost Writer", email="ghost@example.com"))
        session.rollback()  # the outer transaction: everything inside must disappear
    with Session(engine) as session:
        return session.scalar(select(func.count()).where(User.email == "ghost@example.com")) or 0


# ---- fault injection ---------------------------------------------------------------------

class InjectedFault(RuntimeError):
    """A failure put there on purpose by a test."""


class FaultAt:
    """A checkpoint that raises InjectedFault at its n-th step, remembering the steps it saw."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.steps: list[str] = []

    def __call__(self, step: str) -> None:
        self.steps.append(step)
        if len(self.steps) == self.n:
            raise InjectedFault(f"injected at step {self.n} ({step})")


def row_counts(factory: Callable[[], Session]) -> dict[str, int]:
    """How many users, markets and positions the database holds, read in a fresh session."""
    with factory() as session:
        return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (User, Market, Position)}


@contextmanager
def rows_written(factory: Callable[[], Session]) -> Iterator[dict[str, int]]:
    """The rows the block added (or removed) per table; filled in when the block ends."""
    before, change = row_counts(factory), dict[str, int]()
    try:
        yield change
    finally:
        after = row_counts(factory)
        change.update({k: after[k] - before[k] for k in before if after[k] != before[k]})


@dataclass(frozen=True)
class FaultRun:
    """One run of an operation with a fault at one step: the row counts around it."""

    step: str
    before: dict[str, int]
    after: dict[str, int]

    @property
    def left_behind(self) -> dict[str, int]:
        """Rows the failed run left, per table (empty when it changed nothing)."""
        return {k: self.after[k] - self.before[k]
                for k in self.before if self.after[k] != self.before[k]}


@dataclass(frozen=True)
class FaultReport:
    """Every injected fault of an operation, and what a run without a fault writes."""

    runs: list[FaultRun]
    control: dict[str, int]

    @property
    def partial_writes(self) -> int:
        """How many failed runs changed the row counts (0 for an all-or-nothing operation)."""
        return sum(1 for run in self.runs if run.left_behind)


def inject_faults(factory: Callable[[], Session],
                  operation: Callable[[Session, Checkpoint], object],
                  max_steps: int = 1000) -> FaultReport:
    """Fail the operation at step 1, 2, 3... until a run completes; compare counts each time."""
    runs: list[FaultRun] = []
    for n in count(1):
        if n > max_steps:
            raise RuntimeError(f"the operation still had steps after {max_steps}")
        before, fault = row_counts(factory), FaultAt(n)
        with factory() as session:  # closing it rolls back what the operation left open
            try:
                operation(session, fault)
            except InjectedFault:
                pass
            else:  # no step left to fail: this was the control run
                after = row_counts(factory)
                return FaultReport(runs, {k: after[k] - before[k] for k in before})
        runs.append(FaultRun(fault.steps[-1], before, row_counts(factory)))
    raise AssertionError("unreachable")


# ---- the exercise's check ------------------------------------------------------------------

SPLIT_AMOUNT, SPLIT_PARTS = Decimal("100.00"), 3
SPLIT_SHARES = [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def check_split_position(split_position: Callable[..., Any],
                         factory: Callable[[], Session]) -> None:
    """Fail split_position at every step: no partial write, no swallowed error, exact parts."""
    with factory() as session:  # a market of its own, removed again at the end
        user = session.scalar(select(User).order_by(User.id).limit(1))
        if user is None:
            raise RuntimeError("the check needs at least one user in the table")
        market = Market(name="split check", creator=user)
        original = Position(market=market, user=user, side=Side.NO, amount=SPLIT_AMOUNT)
        session.add(original)
        session.commit()
        market_id, position_id, user_id = market.id, original.id, user.id
    state = {"raised": "", "last": ""}

    def operation(session: Session, checkpoint: Checkpoint) -> None:
        def spy(step: str) -> None:
            try:
                checkpoint(step)
            except InjectedFault:
                state["raised"] = step
                raise
        state["raised"] = ""
        try:
            split_position(session, position_id, SPLIT_PARTS, spy)
        except InjectedFault:
            raise
        except NotImplementedError:
            raise WrongAnswer("split_position is not written yet: replace the stub's "
                              "`raise NotImplementedError` with your code") from None
        except Exception as exc:
            with factory() as fresh:
                gone = fresh.get(Position, position_id) is None
            expect(not gone, "no partial write whichever step fails", f"after a fault at "
                   f"'{state['last']}' the original position was deleted for good: one unit "
                   "of work (`with tx.transaction(session):`), no commit inside")
            raise WrongAnswer(f"split_position raised {type(exc).__name__}: {exc}") from None
        finally:
            state["last"] = state["raised"] or state["last"]
        expect(not state["raised"], f"the failure at step '{state['raised']}' to reach the "
               "caller", "your split_position caught it and returned normally: a swallowed "
               "error tells the caller a failed write succeeded")

    try:
        report = inject_faults(factory, operation, max_steps=20)
        bad = [run for run in report.runs if run.left_behind]
        expect(not bad, "no partial write whichever step fails", "yours left rows behind: "
               + "; ".join(f"a fault at '{r.step}' left {r.left_behind}" for r in bad)
               + " (one unit of work: `with tx.transaction(session):`, no commit inside)")
        expect(len(report.runs) == SPLIT_PARTS + 1, f"checkpoint called {SPLIT_PARTS + 1} "
               f"times (before the delete and before each of the {SPLIT_PARTS} parts)",
               f"yours called it {len(report.runs)} times")
        expect(report.control == {"users": 0, "markets": 0, "positions": SPLIT_PARTS - 1},
               f"the original replaced by {SPLIT_PARTS} parts (positions +{SPLIT_PARTS - 1})",
               f"a run without a fault changed {report.control}")
        with factory() as session:
            parts = list(session.scalars(select(Position).where(Position.market_id == market_id)
                                         .order_by(Position.id)))
            expect(all((p.user_id, p.side) == (user_id, Side.NO) for p in parts),
                   "every part with the original's market, user and side",
                   f"yours wrote {[(p.user_id, p.side.value) for p in parts]}")
            amounts = [p.amount for p in parts]
            expect(amounts == SPLIT_SHARES, f"{SPLIT_AMOUNT} split into "
                   f"{', '.join(map(str, SPLIT_SHARES))} (cents; the last takes the remainder)",
                   f"yours wrote {', '.join(map(str, amounts))}, adding up to {sum(amounts)}")
    finally:
        with factory() as session:
            leftover = session.get(Market, market_id)
            if leftover is not None:
                session.delete(leftover)  # and its positions (delete-orphan)
                session.commit()
    passed(f"split_position: {len(report.runs)} faults, 0 partial writes; {SPLIT_AMOUNT} became "
           f"{', '.join(map(str, SPLIT_SHARES))}")
