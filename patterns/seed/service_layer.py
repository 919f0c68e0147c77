"""The seed's MarketService (its "Service Layer Pattern"), as written: it calls a find_by_ids
its repository lacks. (a) Adapted: only the imports (there is no `app` package here):
app.repositories -> patterns.seed.repository; app.rag, never shown -> stand-in patterns.seed.rag."""

# ==== (b) The seed's code ("Service Layer Pattern" in backend-patterns.md), as written ====
# app/services/market_service.py

from typing import Optional
from patterns.seed.repository import MarketRepository
from patterns.seed.rag import generate_embedding, vector_search

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
# ==== end of the seed's code ====


# ==== (c) Harness: none; lesson 03 gives it a repository (patterns.seed.rag is the index) ====
