"""The repository pattern: a port, its SQLAlchemy adapter and an in-memory fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from patterns.models import Market, MarketStatus, User


@dataclass(frozen=True)
class MarketFilters:
    """What find_all can filter on."""

    status: str | None = None


class MarketRepository(Protocol):
    """The port: what services need from market storage. Implementations never commit."""

    def find_all(self, *, filters: MarketFilters | None = None, limit: int = 20,
                 offset: int = 0) -> list[Market]: ...
    def find_by_id(self, market_id: int) -> Market | None: ...
    def find_by_ids(self, market_ids: Sequence[int]) -> list[Market]: ...
    def create(self, data: dict[str, Any]) -> Market: ...
    def update(self, market_id: int, data: dict[str, Any]) -> Market | None: ...
    def delete(self, market_id: int) -> bool: ...


class SqlAlchemyMarketRepository:
    """Markets in a SQL database through a session the caller owns (and commits)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def find_all(self, *, filters: MarketFilters | None = None, limit: int = 20,
                 offset: int = 0) -> list[Market]:
        """A page of markets in id order, creators loaded in the same query."""
        # Many-to-one: joinedload adds one JOIN instead of one SELECT per market.
        stmt = select(Market).options(joinedload(Market.creator)).order_by(Market.id)
        if filters is not None and filters.status is not None:
            stmt = stmt.where(Market.status == MarketStatus(filters.status))
        return list(self._session.scalars(stmt.offset(offset).limit(limit)))

    def find_by_id(self, market_id: int) -> Market | None:
        """One market, or None (Session.get: the 2.x form of the legacy Query.get)."""
        return self._session.get(Market, market_id, options=[joinedload(Market.creator)])

    def find_by_ids(self, market_ids: Sequence[int]) -> list[Market]:
        """The markets with these ids, in the order given; ids that do not exist are skipped."""
        if not market_ids:
            return []
        stmt = select(Market).options(joinedload(Market.creator)).where(Market.id.in_(set(market_ids)))
        by_id = {m.id: m for m in self._session.scalars(stmt)}
        return [by_id[i] for i in dict.fromkeys(market_ids) if i in by_id]

    def create(self, data: dict[str, Any]) -> Market:
        """Add a market and flush, so its id exists before the caller commits."""
        market = Market(**data)
        self._session.add(market)
        self._session.flush()
        return market

    def update(self, market_id: int, data: dict[str, Any]) -> Market | None:
        """Set the given fields on a market; None when it does not exist."""
        market = self.find_by_id(market_id)
        if market is None:
            return None
        for key, value in data.items():
            setattr(market, key, value)
        self._session.flush()
        return market

    def delete(self, market_id: int) -> bool:
        """Delete a market (and its positions); False when it does not exist."""
        market = self._session.get(Market, market_id)
        if market is None:
            return False
        self._session.delete(market)
        self._session.flush()
        return True


class InMemoryMarketRepository:
    """A fake with the same contract, for fast service tests: no database at all."""

    def __init__(self, creators: Sequence[User] = ()) -> None:
        self._rows: dict[int, Market] = {}
        self._users = {u.id: u for u in creators}
        self._next_id = 1

    def find_all(self, *, filters: MarketFilters | None = None, limit: int = 20,
                 offset: int = 0) -> list[Market]:
        rows = [self._rows[k] for k in sorted(self._rows)]
        if filters is not None and filters.status is not None:
            rows = [m for m in rows if m.status == MarketStatus(filters.status)]
        return rows[offset: offset + limit]

    def find_by_id(self, market_id: int) -> Market | None:
        return self._rows.get(market_id)

    def find_by_ids(self, market_ids: Sequence[int]) -> list[Market]:
        return [self._rows[i] for i in dict.fromkeys(market_ids) if i in self._rows]

    def create(self, data: dict[str, Any]) -> Market:
        values = {"description": "", "status": MarketStatus.ACTIVE, "volume": Decimal("0.00"),
                  "created_at": datetime.now(UTC), "closes_at": None} | data
        market = Market(id=self._next_id, **values)
        if market.creator_id in self._users:
            market.creator = self._users[market.creator_id]
        self._rows[market.id] = market
        self._next_id += 1
        return market

    def update(self, market_id: int, data: dict[str, Any]) -> Market | None:
        market = self._rows.get(market_id)
        if market is None:
            return None
        for key, value in data.items():
            setattr(market, key, value)
        return market

    def delete(self, market_id: int) -> bool:
        return self._rows.pop(market_id, None) is not None
