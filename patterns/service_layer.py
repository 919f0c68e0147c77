"""The service layer: business operations over a repository it receives, one commit per operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from patterns.models import Market, MarketStatus
from patterns.repository import MarketFilters, MarketRepository


def _no_commit() -> None:
    """The default unit of work for fakes: nothing to commit."""


class MarketService:
    """Market use cases; the caller decides storage (repo) and transaction end (commit)."""

    def __init__(self, repo: MarketRepository, *, commit: Callable[[], None] = _no_commit) -> None:
        self._repo = repo
        self._commit = commit

    def get_all(self, *, status: str | None = None, limit: int = 20, offset: int = 0) -> list[Market]:
        """A page of markets, optionally of one status."""
        return self._repo.find_all(filters=MarketFilters(status=status), limit=limit, offset=offset)

    def get_by_id(self, market_id: int) -> Market | None:
        """One market or None."""
        return self._repo.find_by_id(market_id)

    def create(self, data: dict[str, Any], *, creator_id: int) -> Market:
        """Create a market owned by creator_id and commit."""
        market = self._repo.create(_normalize(data) | {"creator_id": creator_id})
        self._commit()
        return market

    def update(self, market_id: int, data: dict[str, Any]) -> Market | None:
        """Update a market's writable fields and commit; None when it does not exist."""
        market = self._repo.update(market_id, _normalize(data))
        if market is not None:
            self._commit()
        return market

    def delete(self, market_id: int) -> bool:
        """Delete a market and commit; False when it does not exist."""
        deleted = self._repo.delete(market_id)
        if deleted:
            self._commit()
        return deleted


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    # Validated input carries strings; the model wants its enum.
    if "status" in data and data["status"] is not None:
        return data | {"status": MarketStatus(data["status"])}
    return data
