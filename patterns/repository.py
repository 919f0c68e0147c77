"""The repository pattern: a port, its SQLAlchemy adapter and an in-memory fake (one contract)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, joinedload

from patterns.models import Market, MarketStatus, User

# Columns a caller may set through create/update. The id belongs to the database, and an
# unknown key must fail loudly: the seed's setattr loop would silently invent an attribute.
WRITABLE = frozenset(a.key for a in inspect(Market).column_attrs) - {"id"}


class UnknownCreator(LookupError):
    """create() named a creator_id that is not a user (the foreign key would refuse it)."""


@dataclass(frozen=True)
class MarketFilters:
    """What find_all can filter on."""

    status: str | None = None


@runtime_checkable
class MarketRepository(Protocol):
    """The port: what services need from market storage. Implementations never commit."""

    def find_all(self, *, filters: MarketFilters | None = None, limit: int = 20,
                 offset: int = 0) -> list[Market]: ...
    def find_by_id(self, market_id: int) -> Market | None: ...
    def find_by_ids(self, market_ids: Sequence[int]) -> list[Market]: ...
    def create(self, data: Mapping[str, Any]) -> Market: ...
    def update(self, market_id: int, data: Mapping[str, Any]) -> Market | None: ...
    def delete(self, market_id: int) -> bool: ...


def checked(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data as a dict, or ValueError naming the keys that are not writable columns."""
    unknown = sorted(set(data) - WRITABLE)
    if unknown:
        raise ValueError(f"not writable market fields: {', '.join(unknown)}")
    return dict(data)


def in_given_order(found: Sequence[Market], market_ids: Sequence[int]) -> list[Market]:
    """The found markets in the order of market_ids: first occurrence wins, missing ids skipped."""
    by_id = {m.id: m for m in found}
    return [by_id[i] for i in dict.fromkeys(market_ids) if i in by_id]


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
        """The markets with these ids in the order given (one SELECT); missing ids are skipped."""
        if not market_ids:
            # SQLAlchemy would render an empty IN safely, but as a round trip that can only
            # come back empty: answer without one.
            return []
        stmt = (select(Market).options(joinedload(Market.creator))
                .where(Market.id.in_(set(market_ids))))
        # SQL returns IN (...) rows in whatever order it likes: reorder in Python.
        return in_given_order(list(self._session.scalars(stmt)), market_ids)

    def create(self, data: Mapping[str, Any]) -> Market:
        """Add a market and flush, so its id exists before the caller commits."""
        values = checked(data)
        # The foreign key would refuse it too, but as a driver error that differs per backend.
        creator_id = values.get("creator_id")
        if creator_id is None or self._session.get(User, creator_id) is None:
            raise UnknownCreator(f"no user {creator_id!r} to create the market")
        market = Market(**values)
        self._session.add(market)
        self._session.flush()
        return market

    def _locked(self, market_id: int) -> Market | None:
        # Read again, FOR UPDATE (SQLite: the writer's lock is already held), not from the
        # identity map: a row another transaction deleted since this session loaded it is None
        # here, instead of an UPDATE or DELETE matching 0 rows at flush (a 500, or a warning).
        return self._session.get(Market, market_id, with_for_update={"of": Market},
                                 populate_existing=True,
                                 options=[joinedload(Market.creator)])

    def update(self, market_id: int, data: Mapping[str, Any]) -> Market | None:
        """Set the given fields on a market; None when it does not exist."""
        values = checked(data)
        market = self._locked(market_id)
        if market is None:
            return None
        for key, value in values.items():
            setattr(market, key, value)
        self._session.flush()
        return market

    def delete(self, market_id: int) -> bool:
        """Delete a market (and its positions); False when it does not exist."""
        market = self._locked(market_id)
        if market is None:
            return False
        self._session.delete(market)
        self._session.flush()
        return True


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemoryMarketRepository:
    """A fake with the same contract, for fast service tests: no database at all."""

    def __init__(self, creators: Sequence[User] = (), *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._rows: dict[int, Market] = {}
        self._users = {u.id: u for u in creators}
        self._clock = clock
        self._next_id = 1

    def find_all(self, *, filters: MarketFilters | None = None, limit: int = 20,
                 offset: int = 0) -> list[Market]:
        """A page of markets in id order."""
        rows = [self._rows[k] for k in sorted(self._rows)]
        if filters is not None and filters.status is not None:
            rows = [m for m in rows if m.status == MarketStatus(filters.status)]
        return rows[offset: offset + limit]

    def find_by_id(self, market_id: int) -> Market | None:
        """One market, or None."""
        return self._rows.get(market_id)

    def find_by_ids(self, market_ids: Sequence[int]) -> list[Market]:
        """The markets with these ids in the order given; missing ids are skipped."""
        return in_given_order([self._rows[i] for i in market_ids if i in self._rows], market_ids)

    def create(self, data: Mapping[str, Any]) -> Market:
        """Store a market under the next id; the creator must exist, as the foreign key demands."""
        values = {"description": "", "status": MarketStatus.ACTIVE, "volume": Decimal("0.00"),
                  "created_at": self._clock(), "closes_at": None} | checked(data)
        if values.get("creator_id") not in self._users:
            # A fake that accepted it would let a service test pass that fails on the database.
            raise UnknownCreator(f"no user {values.get('creator_id')!r} to create the market")
        market = Market(id=self._next_id, **values)
        market.creator = self._users[market.creator_id]
        self._rows[market.id] = market
        self._next_id += 1
        return market

    def update(self, market_id: int, data: Mapping[str, Any]) -> Market | None:
        """Set the given fields on a market; None when it does not exist."""
        values = checked(data)
        market = self._rows.get(market_id)
        if market is None:
            return None
        for key, value in values.items():
            setattr(market, key, value)
        return market

    def delete(self, market_id: int) -> bool:
        """Forget a market; False when it does not exist."""
        return self._rows.pop(market_id, None) is not None
