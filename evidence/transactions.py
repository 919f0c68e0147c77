"""Lesson 07's evidence: a fault at every step, and SQLite savepoints with and without hooks."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.orm import Session

from patterns.db import sqlite_hooks
from patterns.models import Base, Market, Position, User
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
