"""The seed's transaction pattern (its "Transaction Pattern"), as written, and a nested use of it.

(a) Adapted from the seed, because its snippet reads a global it never shows:
- `from app import db` is gone: the global `db.session` became a parameter, `session`, so each
  lesson and test passes its own.
- Its "# Usage" lines run at import and use an undefined `user`: they became `seed_usage(session,
  user)`; the market gets a creator and the position a side and an amount, which the schema
  requires, so the one failure left is the seed's own (`market.id` is still None).
Everything else between the markers is the seed's text.
"""

# ==== (b) The seed's code ("Transaction Pattern" in backend-patterns.md), as written ====
from contextlib import contextmanager
# (adapted: the models and values the seed's "# Usage" takes from elsewhere)
from decimal import Decimal
from patterns.models import Market, Position, Side

@contextmanager
def transaction(session):
    """Context manager for database transactions."""
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise

# Usage
def seed_usage(session, user):
    with transaction(session) as session:
        market = Market(name='Test', creator_id=user.id)
        session.add(market)
        position = Position(market_id=market.id, user_id=user.id,
                            side=Side.YES, amount=Decimal("10.00"))
        session.add(position)
    return position
# Commits on success, rolls back on error
# ==== end of the seed's code ====


# ==== (c) Harness: a multi-row operation in the seed's style, for lesson 07's fault injection ====
from sqlalchemy.orm import Session

from patterns.models import User


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
