"""Deterministic demo data: the same rows for the same n, on every run and every backend."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from patterns.models import Market, MarketStatus, Position, Role, Side, User

# A fixed origin instead of "now", so dates in stored notebook outputs never drift.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

FIRST = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken",
         "Radia", "Linus", "Katherine", "Dennis", "Sophie", "Guido", "Annie"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton",
        "Thompson", "Perlman", "Torvalds", "Johnson", "Ritchie", "Wilson", "Rossum", "Easley"]

# (topic, question templates, subjects): varied enough for search and filtering lessons.
TOPICS: list[tuple[str, list[str], list[str]]] = [
    ("crypto", ["Will {s} close above its yearly high?", "Will {s} ETF inflows exceed forecasts?"],
     ["Bitcoin", "Ethereum", "Solana", "Dogecoin"]),
    ("elections", ["Will {s} win the general election?", "Will turnout exceed 70% in {s}?"],
     ["the incumbent party", "the opposition", "Brazil", "Kenya"]),
    ("sports", ["Will {s} win the championship?", "Will {s} reach the final?"],
     ["the home team", "Real Madrid", "the Boston Celtics", "the national team"]),
    ("weather", ["Will {s} see record rainfall this year?", "Will {s} have a heatwave in July?"],
     ["London", "Mumbai", "Sydney", "Chicago"]),
    ("technology", ["Will {s} ship a new flagship device?", "Will {s} announce a quantum chip?"],
     ["Apple", "Google", "a startup", "IBM"]),
    ("economy", ["Will {s} cut interest rates this quarter?", "Will {s} inflation fall below 2%?"],
     ["the Federal Reserve", "the ECB", "Japan", "Canada"]),
]


@dataclass(frozen=True)
class DemoCounts:
    """How many rows of each kind the generator wrote."""

    users: int
    markets: int
    positions: int


def demo_rows(n: int, *, seed: int = 42, positions_per_market: int = 3) -> dict[str, list[dict]]:
    """The demo rows for n markets as plain dicts (no ids: the database assigns 1..n in order)."""
    rng = random.Random(seed)
    # One creator per market (user i created market i): the worst case for lazy loading, where
    # no creator repeats and the identity map never saves a SELECT. Real data repeats creators;
    # lesson 06 shows that case too (1 + distinct creators).
    n_users = max(4, n)
    users = [
        {"name": f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST) + i) % len(LAST)]}",
         "email": f"user{i + 1}@example.com",
         "role": Role.ADMIN if i == 0 else Role.USER}
        for i in range(n_users)
    ]
    markets, positions = [], []
    for i in range(n):
        topic, templates, subjects = TOPICS[i % len(TOPICS)]
        name = rng.choice(templates).format(s=rng.choice(subjects))
        created = EPOCH + timedelta(hours=i)
        markets.append({
            "name": f"{name} #{i + 1}",
            "description": f"{topic.capitalize()} market. {name}",
            "status": rng.choices(list(MarketStatus), weights=[6, 3, 1])[0],
            "volume": Decimal(rng.randrange(0, 10_000_000)) / 100,
            "created_at": created,
            "closes_at": created + timedelta(days=rng.randrange(1, 365)),
            "creator_id": i + 1,
        })
        for _ in range(positions_per_market):
            positions.append({
                "market_id": i + 1,
                "user_id": 1 + rng.randrange(n_users),
                "side": rng.choice(list(Side)),
                "amount": Decimal(rng.randrange(100, 100_000)) / 100,
            })
    return {"users": users, "markets": markets, "positions": positions}


def seed_demo_data(session: Session, n: int = 100, *, seed: int = 42,
                   positions_per_market: int = 3, commit: bool = True) -> DemoCounts:
    """Write the demo rows into empty tables and commit; refuses tables that already hold rows."""
    if session.scalar(select(func.count()).select_from(User)):
        raise ValueError("demo data goes into empty tables; these already hold users")
    rows = demo_rows(n, seed=seed, positions_per_market=positions_per_market)
    # insert() with a list of dicts is one executemany, not one INSERT per object.
    for model, key in ((User, "users"), (Market, "markets"), (Position, "positions")):
        if rows[key]:
            session.execute(insert(model), rows[key])
    if commit:
        session.commit()
    else:
        session.flush()
    return DemoCounts(len(rows["users"]), len(rows["markets"]), len(rows["positions"]))
