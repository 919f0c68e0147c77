"""The service layer: use cases over the unit of work it receives; one commit each."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from patterns.models import Market, MarketStatus
from patterns.repository import MarketFilters
from patterns.schemas import NOT_BLANK_PATTERN, Strict
from patterns.semantic_search import MarketSearch, document
from patterns.unit_of_work import UnitOfWork

MAX_QUERY_CHARS = 200
MAX_SEARCH_LIMIT = 50


class SearchQuerySchema(Strict):
    """What search_markets accepts from outside: a non-blank q of 1..200 characters, limit 1..50."""

    q = fields.String(required=True, validate=validate.Length(min=1, max=MAX_QUERY_CHARS),
                      metadata={"pattern": NOT_BLANK_PATTERN})  # the document says "not blank"
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_SEARCH_LIMIT))

    @validates("q")
    def _q_not_blank(self, value: str, **_: Any) -> None:
        if not re.search(NOT_BLANK_PATTERN, value):
            raise ValidationError("must not be blank")


def _no_change(market_id: int) -> None:
    """The default change listener: nothing cached to forget."""


@dataclass(frozen=True)
class SearchResult:
    """A market and how similar it is to the query."""

    market: Market
    score: float


class MarketService:
    """Market use cases; the caller decides storage and transaction (uow) and the index cache."""

    def __init__(self, uow: UnitOfWork, *, search: MarketSearch | None = None,
                 on_change: Callable[[int], None] = _no_change) -> None:
        # Markets, their stored vectors and the commit: one transaction, the caller's.
        self._uow = uow
        # The process's cache of the stored index (none given: a private one).
        self._search = search if search is not None else MarketSearch()
        # Told the id of every market an update or delete committed (the cache forgets it).
        self._on_change = on_change

    def get_all(self, *, status: str | None = None, limit: int = 20,
                offset: int = 0) -> list[Market]:
        """A page of markets, optionally of one status."""
        return self._uow.markets.find_all(filters=MarketFilters(status=status), limit=limit,
                                          offset=offset)

    def get_by_id(self, market_id: int) -> Market | None:
        """One market or None."""
        return self._uow.markets.find_by_id(market_id)

    def create(self, data: dict[str, Any], *, creator_id: int) -> Market:
        """Create a market owned by creator_id and store its vector: one commit for both."""
        with self._uow as uow:  # an error on the way rolls both back
            market = uow.markets.create(_normalize(data) | {"creator_id": creator_id})
            self._index(market)
            uow.commit()
        return market

    def update(self, market_id: int, data: dict[str, Any]) -> Market | None:
        """Update a market's writable fields and its vector, commit; None when it does not exist."""
        with self._uow as uow:
            market = uow.markets.update(market_id, _normalize(data))
            if market is None:
                return None
            self._index(market)
            uow.commit()
        # After the commit, never before: a read in between would cache the old row again.
        self._on_change(market_id)
        return market

    def delete(self, market_id: int) -> bool:
        """Delete a market and its vector, commit; False when it does not exist."""
        with self._uow as uow:
            if not uow.markets.delete(market_id):
                return False
            self._search.remove(uow.embeddings, market_id)  # SQL cascades; a fake may not
            uow.commit()
        self._on_change(market_id)
        self._search.forget(market_id)  # this process's cache, at once (others: on a hit)
        return True

    def search_markets(self, query: str, *, limit: int = 10) -> list[SearchResult]:
        """Semantic search: the markets most similar to query, best first, ties by id."""
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_SEARCH_LIMIT}, not {limit}")
        self.refresh_search()
        embedding = self._search.generate_embedding(query)
        # A cached vector whose stored row is gone (its market deleted, or removed from search
        # by another process) is forgotten, and the search runs again to fill its place.
        while True:
            hits = self._search.vector_search(embedding, limit=limit, text=query)
            if not self._search.drop_unstored(self._uow.embeddings, [h.id for h in hits]):
                break
        found = {m.id: m for m in self._uow.markets.find_by_ids([h.id for h in hits])}
        # Already best first, ties by id: no re-sort, no default score.
        return [SearchResult(found[h.id], h.score) for h in hits if h.id in found]

    def refresh_search(self) -> int:
        """Bring the process's cache up to the stored index; how many vectors it loaded."""
        # Once per process: vectors for the markets written without the service (demo data,
        # imports), stored in a transaction of their own: a search never commits the caller's.
        if not self._search.loaded:
            self._search.backfill(self._uow.embeddings)
        return self._search.sync(self._uow.embeddings)

    def index_for_search(self, market_id: int) -> bool:
        """Make the stored index agree with storage for one market (idempotent), commit; True if
        indexed."""
        with self._uow as uow:
            market = uow.markets.find_by_id(market_id)
            if market is None:
                self._search.remove(uow.embeddings, market_id)
            indexed = market is not None and self._index(market)
            uow.commit()
        return indexed

    def remove_from_search(self, market_id: int) -> bool:
        """Delete a market's stored vector (idempotent), commit; False when it had none."""
        with self._uow as uow:
            removed = self._search.remove(uow.embeddings, market_id)
            uow.commit()
        self._search.forget(market_id)
        return removed

    def _index(self, market: Market) -> bool:
        # Embedded and stored in the unit of work's transaction; True when a row was written.
        documents = [(market.id, document(market.name, market.description))]
        return bool(self._search.index(self._uow.embeddings, documents))


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    # Validated input carries strings; the model wants its enum.
    if "status" in data and data["status"] is not None:
        return data | {"status": MarketStatus(data["status"])}
    return data
