"""The service layer: use cases over a repository it receives; one commit each; search in step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from patterns.models import Market, MarketStatus
from patterns.repository import MarketFilters, MarketRepository
from patterns.schemas import Strict
from patterns.semantic_search import MarketSearch, document

PAGE = 500  # how many markets the lazy index build reads per query
MAX_QUERY_CHARS = 200
MAX_SEARCH_LIMIT = 50


class SearchQuerySchema(Strict):
    """What search_markets accepts from outside: a non-blank q of 1..200 characters, limit 1..50."""

    q = fields.String(required=True, validate=validate.Length(min=1, max=MAX_QUERY_CHARS))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_SEARCH_LIMIT))

    @validates("q")
    def _q_not_blank(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("must not be blank")


def _no_commit() -> None:
    """The default unit of work for fakes: nothing to commit."""


def _no_change(market_id: int) -> None:
    """The default change listener: nothing cached to forget."""


@dataclass(frozen=True)
class SearchResult:
    """A market and how similar it is to the query."""

    market: Market
    score: float


class MarketService:
    """Market use cases; the caller decides storage (repo), transaction end (commit) and index."""

    def __init__(self, repo: MarketRepository, *, commit: Callable[[], None] = _no_commit,
                 search: MarketSearch | None = None,
                 on_change: Callable[[int], None] = _no_change) -> None:
        self._repo = repo
        self._commit = commit
        # Told the id of every market an update or delete committed (the cache forgets it).
        self._on_change = on_change
        # No index given: a private one, built from this repository on the first search.
        self._search = search if search is not None else MarketSearch()

    def get_all(self, *, status: str | None = None, limit: int = 20,
                offset: int = 0) -> list[Market]:
        """A page of markets, optionally of one status."""
        return self._repo.find_all(filters=MarketFilters(status=status), limit=limit, offset=offset)

    def get_by_id(self, market_id: int) -> Market | None:
        """One market or None."""
        return self._repo.find_by_id(market_id)

    def create(self, data: dict[str, Any], *, creator_id: int) -> Market:
        """Create a market owned by creator_id, commit, then index it."""
        market = self._repo.create(_normalize(data) | {"creator_id": creator_id})
        self._commit()
        # After the commit: a failed commit must not leave a phantom in the index.
        self._search.index(market.id, document(market.name, market.description))
        return market

    def update(self, market_id: int, data: dict[str, Any]) -> Market | None:
        """Update a market's writable fields, commit, re-index it; None when it does not exist."""
        market = self._repo.update(market_id, _normalize(data))
        if market is not None:
            self._commit()
            # After the commit, never before: a read in between would cache the old row again.
            self._on_change(market_id)
            self._search.index(market.id, document(market.name, market.description))
        return market

    def delete(self, market_id: int) -> bool:
        """Delete a market, commit, then drop it from the index; False when it does not exist."""
        deleted = self._repo.delete(market_id)
        if deleted:
            self._commit()
            self._on_change(market_id)
            self._search.remove(market_id)
        return deleted

    def search_markets(self, query: str, *, limit: int = 10) -> list[SearchResult]:
        """Semantic search: the markets most similar to query, best first, ties by id."""
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_SEARCH_LIMIT}, not {limit}")
        self._search.ensure_built(self._documents)
        embedding = self._search.generate_embedding(query)
        hits = self._search.vector_search(embedding, limit=limit)
        found = {m.id: m for m in self._repo.find_by_ids([h.id for h in hits])}
        results = []
        for hit in hits:  # already best first, ties by id: no re-sort, no default score
            if hit.id in found:
                results.append(SearchResult(found[hit.id], hit.score))
            else:  # deleted since it was indexed (another worker): drop it, and heal the index
                self._search.remove(hit.id)
        return results

    def index_for_search(self, market_id: int) -> bool:
        """Make the index agree with storage for one market (idempotent); True if indexed."""
        self._search.ensure_built(self._documents)
        market = self._repo.find_by_id(market_id)
        if market is None:
            self._search.remove(market_id)
            return False
        return self._search.index(market.id, document(market.name, market.description))

    def remove_from_search(self, market_id: int) -> bool:
        """Drop a market from the index (idempotent); False when it was not there."""
        return self._search.remove(market_id)

    def _documents(self) -> Iterator[tuple[int, str]]:
        # Through the repository, page by page: the same code builds from SQL or from the fake.
        offset = 0
        while page := self._repo.find_all(limit=PAGE, offset=offset):
            yield from ((m.id, document(m.name, m.description)) for m in page)
            offset += len(page)


def _normalize(data: dict[str, Any]) -> dict[str, Any]:
    # Validated input carries strings; the model wants its enum.
    if "status" in data and data["status"] is not None:
        return data | {"status": MarketStatus(data["status"])}
    return data
