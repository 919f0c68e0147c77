"""Transactions: a unit of work commits or rolls back whole; a savepoint undoes only its part."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patterns.models import Market, Position, Side, User

Checkpoint = Callable[[str], None]


def no_fault(step: str) -> None:
    """The checkpoint of normal operation: every step goes ahead."""


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit when the block ends, roll back on any exception; refuses to start inside another."""
    # session.begin() raises if a transaction is already open, where the seed's version would
    # silently commit the caller's unfinished work. Nested work asks for begin_nested().
    with session.begin():
        yield session


def open_position(session: Session, creator: User, *, name: str, side: Side,
                  amount: Decimal) -> Position:
    """The seed's example, fixed: link through the relationship, so the flush fills market_id."""
    market = Market(name=name, creator=creator)
    position = Position(market=market, user=creator, side=side, amount=amount)
    session.add(position)  # the market comes along (save-update cascade)
    return position


def open_market(session: Session, creator: User, amounts: Sequence[Decimal], *,
                name: str = "Opening book", checkpoint: Checkpoint = no_fault) -> Market:
    """A market, one YES position per amount, and its volume; the caller owns the transaction."""
    checkpoint("market")
    market = Market(name=name, creator=creator)
    session.add(market)
    # Flushing after each step sends the rows now: a fault later must undo rows the database
    # has really written, not merely objects still waiting in the session.
    session.flush()
    for i, amount in enumerate(amounts):
        checkpoint(f"position {i + 1}")
        market.positions.append(Position(user=creator, side=Side.YES, amount=amount))
        session.flush()
    checkpoint("volume")
    market.volume = sum(amounts, Decimal("0.00"))
    session.flush()
    checkpoint("commit")
    return market


def create_opening_book(session: Session, creator_id: int, amounts: Sequence[Decimal],
                        checkpoint: Checkpoint = no_fault) -> Market:
    """open_market as one unit of work: all its rows are written, or none."""
    with transaction(session):
        creator = session.get(User, creator_id)
        if creator is None:
            raise LookupError(f"no user {creator_id}")
        return open_market(session, creator, amounts, checkpoint=checkpoint)


# ---- savepoints ------------------------------------------------------------------------------

def add_each_or_skip(session: Session, objects: Sequence[Any]) -> list[int]:
    """Add each object in its own savepoint: one that violates a constraint is undone alone."""
    skipped = []
    for i, obj in enumerate(objects):
        try:
            with session.begin_nested():  # SAVEPOINT ... RELEASE, or ROLLBACK TO on error
                session.add(obj)
        except IntegrityError:
            # Without the savepoint, PostgreSQL would refuse every further statement of the
            # transaction ("current transaction is aborted") and the whole batch would be lost.
            skipped.append(i)
    return skipped
