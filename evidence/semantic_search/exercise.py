"""Lesson 13's exercise check: a refresh() that loads only what changed since its version."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evidence.grading import call, expect, passed
from patterns.models import User
from patterns.repository import InMemoryMarketRepository, MarketRepository
from patterns.semantic_search import (
    EmbeddingStore,
    HashingEmbedder,
    InMemoryEmbeddingStore,
    StoredVectors,
    VectorIndex,
    embedder_name,
)

Refresh = Callable[[VectorIndex, EmbeddingStore, str, int], int]
NAMES = ("Will Bitcoin close above its yearly high?", "Will the volcano erupt?",
         "Will the ECB cut interest rates this quarter?")


class ObservedStore(InMemoryEmbeddingStore):
    """The fake store, noting each load (its `after`) and each count."""

    def __init__(self, markets: MarketRepository) -> None:
        super().__init__(markets)
        self.loads: list[int] = []
        self.counts = 0

    def load(self, model: str, dim: int, *, after: int) -> StoredVectors:
        """The fake's load, noted."""
        self.loads.append(after)
        return super().load(model, dim, after=after)

    def count(self, model: str, market_id: int | None = None) -> int:
        """The fake's count, noted."""
        self.counts += 1
        return super().count(model, market_id)


def _top(index: VectorIndex, vector: np.ndarray) -> int | None:
    hits = index.search(vector, 1)
    return hits[0].id if hits else None


def check_refresh(refresh: Refresh) -> None:
    """Judge refresh(index, store, model, seen) -> version: a full load once, nothing while the
    version stays, then only the rows stored with a newer version (a rename included)."""
    embedder = HashingEmbedder()
    model = embedder_name(embedder)
    markets = InMemoryMarketRepository([User(id=1, name="Ada", email="ada@example.com")])
    ids = [markets.create({"name": n, "creator_id": 1}).id for n in NAMES]
    store, index = ObservedStore(markets), VectorIndex(embedder.dim)
    store.save(model, ids, embedder.embed(NAMES))  # another process stored version 1
    seen = call("refresh", refresh, index, store, model, 0)
    expect(seen == 1, "the version held after the first refresh to be 1",
           f"your refresh returned {seen!r}")
    expect(len(index) == 3 and store.loads == [0], "3 vectors from one load(after=0)",
           f"got {len(index)} vectors, loads after {store.loads}")
    again = call("refresh", refresh, index, store, model, 1)
    expect(again == 1 and store.loads == [0],
           "no load while the version is unchanged (one version() read)",
           f"got loads after {store.loads}, version {again!r}")
    expect(store.counts == 0, "no count(): it reads the whole table, and a rename keeps it",
           f"got {store.counts} count() calls")
    rename = embedder.embed(["Will the glacier melt?"])
    store.save(model, [ids[1]], rename)  # another process renames market 2: version 2
    seen = call("refresh", refresh, index, store, model, 1)
    expect(seen == 2 and store.loads == [0, 1], "version 2 from one more load(after=1)",
           f"got version {seen!r}, loads after {store.loads}")
    top = _top(index, rename[0])
    expect(len(index) == 3 and top == ids[1],
           "the renamed market replaced in place (3 vectors, found by its new name)",
           f"got {len(index)} vectors, top hit {top}")
    passed("refresh: one full load, then only what changed (6 checks hold)")
