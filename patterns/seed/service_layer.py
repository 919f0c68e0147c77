"""The seed's MarketService, as written: semantic search over module-level RAG functions."""

# Only the imports are adapted: the seed's app.rag is never shown, so patterns.seed.rag stands
# in for it. Note what the seed's service calls and its repository never defines: find_by_ids.

from typing import Optional  # noqa: F401  (the seed imports it)

from patterns.seed.rag import generate_embedding, vector_search
from patterns.seed.repository import MarketRepository


class MarketService:
    def __init__(self, repo: MarketRepository):
        self._repo = repo

    def search_markets(
        self,
        query: str,
        *,
        limit: int = 10
    ) -> list[dict]:
        """Semantic search for markets."""
        # Generate embedding for query
        embedding = generate_embedding(query)

        # Vector search
        results = vector_search(embedding, limit=limit)

        # Fetch full market data
        market_ids = [r['id'] for r in results]
        markets = self._repo.find_by_ids(market_ids)

        # Sort by similarity score
        score_map = {r['id']: r['score'] for r in results}
        markets.sort(key=lambda m: score_map.get(m.id, 0), reverse=True)

        return markets
