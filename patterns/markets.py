"""The market service as the app builds it, in one place: the API, the cache and the jobs use it."""

from __future__ import annotations

from typing import Any

from patterns.caching import DEFAULT_TTL, cached
from patterns.db import get_session
from patterns.schemas import MarketSchema
from patterns.semantic_search import market_search
from patterns.service_layer import MarketService
from patterns.unit_of_work import SqlAlchemyUnitOfWork


def market_service() -> MarketService:
    """The service for this request: the request's session is its unit of work."""
    return MarketService(SqlAlchemyUnitOfWork(get_session()), search=market_search(),
                         on_change=invalidate_market)


@cached(ttl=DEFAULT_TTL)
def market_payload(market_id: int) -> dict[str, Any] | None:
    """GET /api/markets/<id>'s data: the market as the API shows it, or None (never cached)."""
    market = MarketService(SqlAlchemyUnitOfWork(get_session())).get_by_id(market_id)
    return None if market is None else MarketSchema().dump(market)


def invalidate_market(market_id: int) -> None:
    """Forget one market's cached payload; the service calls this after each committed write."""
    market_payload.invalidate(market_id)
