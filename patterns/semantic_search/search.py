"""Each process's cache of the stored index: numpy vectors, refreshed by one version read."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from itertools import islice

import numpy as np
from flask import Flask, current_app

from patterns.semantic_search.embedders import Embedder, HashingEmbedder, embedder_name
from patterns.semantic_search.index import Hit, VectorIndex
from patterns.semantic_search.lexical import WordIndex
from patterns.semantic_search.store import EmbeddingStore


class MarketSearch:
    """One process's copy of the stored index: numpy vectors and each market's words, refreshed
    when the store changed."""

    def __init__(self, embedder: Embedder | None = None, *, min_score: float = 0.0,
                 words_first: bool = True) -> None:
        self.embedder: Embedder = embedder or HashingEmbedder()
        self.model = embedder_name(self.embedder)
        self.min_score = min_score
        # Hybrid ranking: markets sharing a word with the query before those that share none
        # (False: cosine alone, where a short unrelated name can collide with the query).
        self.words_first = words_first
        self._index = VectorIndex(self.embedder.dim)
        self._words = WordIndex()
        self._version: int | None = None  # the store's version this cache reflects
        # Requests run in threads: one lock keeps loads, drops and searches from interleaving.
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        """Whether the cache has been filled from a store."""
        return self._version is not None

    @property
    def version(self) -> int | None:
        """The store version the cache holds (None before the first load)."""
        return self._version

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._index

    def index(self, store: EmbeddingStore, documents: Sequence[tuple[int, str]]) -> list[int]:
        """Embed (id, text) pairs and store them in the caller's transaction; the ids stored."""
        if not documents:
            return []
        vectors = self.embedder.embed([text for _, text in documents])
        return store.save(self.model, [i for i, _ in documents], vectors)

    def remove(self, store: EmbeddingStore, market_id: int) -> bool:
        """Delete a market's stored vector in the caller's transaction; False when it had none."""
        return store.delete(market_id)

    def backfill(self, store: EmbeddingStore, *, batch: int = 1000) -> int:
        """Store vectors for the markets that have none of this model (rows written without the
        service: demo data, imports, another model before), in a transaction of its own."""
        stored = 0
        with store.separately() as own:
            docs = iter(own.unindexed(self.model))
            while chunk := list(islice(docs, batch)):
                stored += len(self.index(own, chunk))
        return stored

    def sync(self, store: EmbeddingStore) -> int:
        """Bring the cache up to the store's committed vectors; how many it loaded. When nothing
        changed this costs one primary-key read."""
        version = store.version()
        if version == self._version:
            return 0
        with self._lock:
            if self._version is not None and version <= self._version:
                return 0  # another thread got here first (or this bind shows an older snapshot)
            fresh = store.load(self.model, self.embedder.dim, after=self._version or 0)
            self._index.upsert(fresh.ids, fresh.vectors)
            if self.words_first:  # no gate, no word index to keep
                self._words.upsert(fresh.ids, fresh.texts)
            self._version = max(version, fresh.version)
            return len(fresh.ids)

    def drop_unstored(self, store: EmbeddingStore, market_ids: Sequence[int]) -> list[int]:
        """Forget cached ids whose stored vector is gone (deleted with its market, or removed
        from search by any process); the ids forgotten."""
        with self._lock:  # between the read and the drops, no load may bring one back
            gone = set(market_ids) - store.stored(self.model, market_ids)
            return [i for i in market_ids if i in gone and self._forget(i)]

    def forget(self, market_id: int) -> bool:
        """Drop one id from this cache only (after a committed delete); False when absent."""
        with self._lock:
            return self._forget(market_id)

    def _forget(self, market_id: int) -> bool:
        self._words.remove(market_id)
        return self._index.remove(market_id)

    def generate_embedding(self, text: str) -> np.ndarray:
        """The query's vector (the seed's generate_embedding)."""
        return self.embedder.embed([text])[0]

    def vector_search(self, embedding: np.ndarray, limit: int = 10, *, text: str = "") -> list[Hit]:
        """The most similar cached markets, best first (the seed's vector_search); those sharing
        a word with `text`, the query, ahead of the rest."""
        with self._lock:
            first = self._words.matching(text) if self.words_first else set()
            return self._index.search(embedding, limit, min_score=self.min_score, first=first)


EXTENSION = "market_search"


def market_search(app: Flask | None = None) -> MarketSearch:
    """The app's cache of the stored index, created on first use (config SEARCH_EMBEDDER plugs
    another model)."""
    app = app or current_app  # the proxy will do: only its extensions and config are read
    search = app.extensions.get(EXTENSION)
    if search is None:
        fresh = MarketSearch(app.config.get("SEARCH_EMBEDDER"))
        search = app.extensions.setdefault(EXTENSION, fresh)  # two first calls: one wins
    return search
