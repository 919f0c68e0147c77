"""Lesson 02's exercise check: close_and_copy is one unit of work, committed once or not at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from evidence.grading import call, expect, expect_raises, passed
from evidence.repository import committed_counts
from patterns.models import Market, MarketStatus
from patterns.repository import UnknownCreator

CloseAndCopy = Callable[[Session, int, int], Any]


def check_close_and_copy(close_and_copy: CloseAndCopy, new_session: Callable[[], Session],
                         market_id: int, creator_id: int = 2) -> Market:
    """Step 2 fails once (an unknown creator): nothing may be left; then it succeeds, once."""
    before = committed_counts(new_session)
    with new_session() as session:
        expect_raises("close_and_copy", UnknownCreator,
                      "UnknownCreator to reach the caller when the copy's creator does not exist",
                      close_and_copy, session, market_id, 10**6,
                      returned="your close_and_copy returned normally: a swallowed error tells "
                               "the caller a failed write succeeded")
    failed = committed_counts(new_session)
    expect(failed == before, "nothing committed when step 2 fails (one unit of work)",
           f"got {failed.closed - before.closed} market(s) closed and "
           f"{failed.markets - before.markets} copies committed: step 1 was committed on its own")
    with new_session() as session:
        copy = call("close_and_copy", close_and_copy, session, market_id, creator_id)
        name = getattr(copy, "name", None)
    after = committed_counts(new_session)
    expect((after.markets, after.closed) == (before.markets + 1, before.closed + 1),
           "one copy more and one market closed, committed",
           f"got {after.markets - before.markets} more market(s) and "
           f"{after.closed - before.closed} more closed: did it commit (session.begin())?")
    expect(isinstance(copy, Market) and name is not None and name.startswith("Copy of "),
           "the copy returned, named 'Copy of <name>'", f"got {copy!r}")
    expect(getattr(copy, "status", MarketStatus.ACTIVE) == MarketStatus.ACTIVE,
           "the copy active", f"got status {getattr(copy, 'status', None)}")
    passed(f"close_and_copy: nothing left by a failed step 2, then one commit ({name})")
    return copy
