"""The seed's transaction pattern, as written; only the global db.session became a parameter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from sqlalchemy.orm import Session

from patterns.models import Market, Position, Side, User


# ---- the seed's context manager, unchanged apart from `session` ----
@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Context manager for database transactions."""
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
# ---- end of the seed's context manager ----


def seed_usage(session: Session, user: User) -> Position:
    """The seed's usage example (the market gets a creator: the schema requires one)."""
    with transaction(session) as s:
        market = Market(name='Test', creator_id=user.id)
        s.add(market)
        position = Position(market_id=market.id, user_id=user.id, side=Side.YES,
                            amount=Decimal("10.00"))
        s.add(position)
    return position


def open_market_nested(session: Session, user: User, amounts: list[Decimal],
                       checkpoint: object = None) -> None:
    """A multi-row operation in the seed's style: helpers that each wrap their own transaction()."""
    step = checkpoint if callable(checkpoint) else (lambda _name: None)
    with transaction(session):
        step("market")
        with transaction(session):  # the helper's own transaction(): its commit ends the outer one
            market = Market(name="Opening book", creator_id=user.id)
            session.add(market)
        for i, amount in enumerate(amounts):
            step(f"position {i + 1}")
            with transaction(session):
                session.add(Position(market_id=market.id, user_id=user.id, side=Side.YES,
                                     amount=amount))
        step("volume")
        with transaction(session):
            market.volume = sum(amounts, Decimal("0.00"))
        step("commit")
