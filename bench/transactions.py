"""transactions.*: faults injected at every step of a multi-row operation, and what they left."""

from __future__ import annotations

from decimal import Decimal

from evidence import transactions as trials
from evidence.lab import lesson_app
from patterns import transactions as tx
from patterns.db import get_db
from patterns.models import User
from patterns.seed import transactions as seed


def figures(quick: bool = False) -> dict[str, float | int]:
    """partial_writes of the unit of work (0 expected) and of the seed's nested style."""
    amounts = [Decimal(10 + i) for i in range(5 if quick else 20)]
    app = lesson_app(rows=10)
    db = get_db(app)
    try:
        good = trials.inject_faults(db.new_session,
                                    lambda s, cp: tx.create_opening_book(s, 2, amounts, cp))
        bad = trials.inject_faults(db.new_session, lambda s, cp: seed.open_market_nested(
            s, s.get(User, 2), amounts, cp))
        with trials.scratch_sqlite(hooks=False) as raw, trials.scratch_sqlite(hooks=True) as hooked:
            survivors = (trials.rolled_back_savepoint_survivors(raw),
                         trials.rolled_back_savepoint_survivors(hooked))
    finally:
        db.close()
    return {
        "transactions.faults_injected": len(good.runs),
        "transactions.partial_writes": good.partial_writes,
        "transactions.seed_partial_writes": bad.partial_writes,
        "transactions.sqlite_savepoint_leaks_without_hooks": survivors[0],
        "transactions.sqlite_savepoint_leaks_with_hooks": survivors[1],
    }
