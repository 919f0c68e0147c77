"""Lesson 00's exercise check: markets per status, counted by the database in one statement.

Named for `patterns/query_counter.py`, the lesson's evidence: the check counts the statements a
learner's `markets_by_status(session)` sends, and reads them, as well as judging its answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from evidence.grading import call, expect, passed
from patterns.db import get_db
from patterns.models import Market, MarketStatus
from patterns.query_counter import count_queries

STATUSES = [s.value for s in MarketStatus]
EMPTIED = MarketStatus.RESOLVED  # the status the second round leaves without a market
_AGGREGATE = re.compile(r"\b(count|sum)\s*\(", re.IGNORECASE)


def _truth(session: Session) -> dict[str, int]:
    """Every status and its number of markets, zeros included (one query each: not timed)."""
    return {s.value: session.scalar(select(func.count()).where(Market.status == s)) or 0
            for s in MarketStatus}


def _shown(counts: Mapping[Any, Any]) -> str:
    return "{" + ", ".join(f"{str(k)!r}: {v!r}" for k, v in counts.items()) + "}"


def _answer(markets_by_status: Callable[..., Any], session: Session, engine: Engine, when: str,
            rows: int) -> dict[str, Any]:
    """Call the learner's function once; judge the statements it sent; its answer as a dict."""
    with count_queries(engine) as log:
        result = call("markets_by_status(session)", markets_by_status, session)
    expect(isinstance(result, Mapping), "a dict {status: count}",
           f"yours returned {type(result).__name__}: {result!r:.80}")
    expect(log.count > 0, "one SELECT on the session you are given",
           f"yours sent no statement {when}: query `session`, not a variable of the notebook")
    expect(log.count == 1, "one statement, with the counting done by the database (GROUP BY)",
           f"yours sent {log.count} {when} (one per status?): one SELECT can count every status")
    sql = log.statements[0]
    shown = sql if len(sql) <= 48 else sql[:47] + "…"
    expect(bool(_AGGREGATE.search(sql)), "the database to do the counting: count(...) with "
           "GROUP BY status", f"yours sent `{shown}` with no count(...): all {rows} markets "
           "came to Python to be counted there")
    return {str(k): v for k, v in result.items()}  # MarketStatus is a StrEnum: 'active' itself


def _judge(got: dict[str, Any], truth: dict[str, int], when: str) -> None:
    present = {k for k, n in truth.items() if n}
    expect(present <= set(got) and set(got) <= set(truth),
           f"the keys {', '.join(map(repr, truth))} (each status's value)",
           f"yours had {', '.join(map(repr, got))} {when}: key by status.value, not .name")
    missing = [k for k in truth if k not in got]
    expect(not missing, f"{_shown({k: 0 for k in missing})} {when}: every status, "
           "0 included", f"yours left {', '.join(map(repr, missing))} out: GROUP BY has no row "
           "for a status without markets; start from every status at 0")
    expect(got == truth, f"{_shown(truth)} {when} (the counts in the database)",
           f"yours {_shown(got)}")


def check_markets_by_status(markets_by_status: Callable[..., Any], app: Flask) -> None:
    """Judge markets_by_status on the app's markets, then with no market left in EMPTIED."""
    # The app's engine: a write session's (SQLite: BEGIN IMMEDIATE) is a copy with its own events.
    engine = get_db(app).engine
    if engine is None:
        raise RuntimeError("the check needs the app's database (Database.init_app)")
    with get_db(app).new_session() as session:
        truth = _truth(session)
        first = _answer(markets_by_status, session, engine, "on the demo data",
                        sum(truth.values()))
        _judge(first, truth, "on the demo data")
    with get_db(app).new_session(write=True) as session:
        try:
            session.execute(update(Market).where(Market.status == EMPTIED)
                            .values(status=MarketStatus.CLOSED))
            emptied = _truth(session)
            when = f"once no market is {EMPTIED.value}"
            second = _answer(markets_by_status, session, engine, when, sum(emptied.values()))
            expect(second != first or first == emptied, f"new counts {when}",
                   "yours returned the same counts as before: count with the `session` "
                   "argument (it sees the change), not another session")
            _judge(second, emptied, when)
        finally:
            session.rollback()  # the change was never committed: the table is as it was
    passed(f"markets_by_status: one statement, counted by the database: {_shown(truth)}; "
           f"and {EMPTIED.value!r}: 0 when no market is {EMPTIED.value}")
