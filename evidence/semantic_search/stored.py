"""The stored index at size: an index of n demo markets, its top-10 latency, a second app on the
same database, and what keeping a process's cache in step with the table costs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle

import numpy as np
from flask import Flask
from sqlalchemy import insert

from evidence.semantic_search.quality import LABELLED_QUERIES
from evidence.timing import Clock, interleaved_medians, median_ms
from patterns.app import create_app
from patterns.db import get_db
from patterns.demo_data import demo_rows, seed_demo_data
from patterns.models import MarketEmbedding, SearchIndexState
from patterns.semantic_search import (
    STORED_DTYPE,
    Embedder,
    HashingEmbedder,
    MarketSearch,
    SqlEmbeddingStore,
    VectorIndex,
    WordIndex,
    document,
    embedder_name,
)


def build_index(n: int, embedder: Embedder | None = None, *, batch: int = 5000) -> VectorIndex:
    """An index of n demo-market texts (the generator's names and descriptions, no database)."""
    embedder = embedder or HashingEmbedder()
    markets = demo_rows(n, positions_per_market=0)["markets"]
    index = VectorIndex(embedder.dim)
    for start in range(0, n, batch):
        chunk = markets[start:start + batch]
        texts = [document(m["name"], m["description"]) for m in chunk]
        index.upsert(list(range(start + 1, start + 1 + len(chunk))), embedder.embed(texts))
    return index


def build_words(n: int) -> WordIndex:
    """The word index of the same n demo-market texts as build_index(n) (same ids)."""
    markets = demo_rows(n, positions_per_market=0)["markets"]
    index = WordIndex()
    index.upsert(list(range(1, n + 1)), [document(m["name"], m["description"]) for m in markets])
    return index


def _top10_search(index: VectorIndex, embedder: Embedder,
                  words: WordIndex | None) -> Callable[[], None]:
    """One search per call, the labelled queries cycled: embed, then rank the top 10; with
    `words`, the markets sharing a query word first, as the service ranks."""
    texts = cycle([q.text for q in LABELLED_QUERIES])

    def search() -> None:
        text = next(texts)
        first = words.matching(text) if words is not None else ()
        index.search(embedder.embed([text])[0], 10, first=first)

    return search


def top10_latency_ms(index: VectorIndex, embedder: Embedder | None = None, *,
                     words: WordIndex | None = None, repeats: int = 60,
                     clock: Clock = time.perf_counter) -> float:
    """Median milliseconds to embed a query and find its top 10 (the labelled queries, cycled);
    with `words`, the markets sharing a query word first, as the service ranks."""
    return median_ms(_top10_search(index, embedder or HashingEmbedder(), words), repeats,
                     clock=clock)


def top10_latency_pair_ms(index: VectorIndex, words: WordIndex, *, repeats: int = 60,
                          clock: Clock = time.perf_counter) -> tuple[float, float]:
    """(cosine alone, words first): median top-10 milliseconds, the two timed in turns."""
    embedder = HashingEmbedder()
    cosine, hybrid = interleaved_medians(
        [_top10_search(index, embedder, None), _top10_search(index, embedder, words)],
        repeats, clock=clock)
    return cosine * 1000, hybrid * 1000


def same_database_app(app: Flask, **config: object) -> Flask:
    """A second app on this app's database and tables: what another process (an API worker, a
    Celery worker) opens. Close it with get_db(other).close(); the tables stay the first app's."""
    db = get_db(app)
    assert db.engine is not None
    return create_app({"TESTING": True, "DATABASE_ISOLATED": False, "DEMO_ROWS": 0,
                       "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
                       "DATABASE_SCHEMA": db.schema or app.config.get("DATABASE_SCHEMA"),
                       **config})


def store_index(app: Flask, index: VectorIndex, embedder: Embedder | None = None) -> int:
    """Write an index's vectors as the stored index of this app's markets (same ids), in bulk."""
    ids, vectors = index.items()
    model = embedder_name(embedder or HashingEmbedder())
    with get_db(app).new_session() as session, session.begin():
        rows = [{"market_id": int(i), "model": model, "dim": index.dim, "version": 1,
                 "vector": np.asarray(v, dtype=STORED_DTYPE).tobytes()}
                for i, v in zip(ids, vectors, strict=True)]
        for start in range(0, len(rows), 5000):  # executemany in slices: bounded memory
            session.execute(insert(MarketEmbedding), rows[start:start + 5000])
        session.execute(insert(SearchIndexState).values(id=1, version=1))
    return len(rows)


def stored_demo_app(n: int, embedder: Embedder | None = None, *,
                    index: VectorIndex | None = None) -> Flask:
    """A fresh app with n demo markets (no positions) and their stored vectors (from `index`,
    when given: build_index(n) of the same embedder)."""
    embedder = embedder or HashingEmbedder()
    app = create_app({"TESTING": True, "DEMO_ROWS": 0, "SEARCH_EMBEDDER": embedder})
    with get_db(app).new_session() as session:
        seed_demo_data(session, n, positions_per_market=0)
    store_index(app, index if index is not None else build_index(n, embedder), embedder)
    return app


@dataclass(frozen=True)
class SyncCosts:
    """What keeping one process's cache in step with the stored index costs, in ms (medians)."""

    vectors: int
    cold_load_ms: float  # a new process's first search: every stored vector into numpy
    unchanged_ms: float  # each later search when nothing changed: the version, and 10 hits checked
    after_write_ms: float  # the first search after another process stored one vector


def sync_costs(app: Flask, *, repeats: int = 20, clock: Clock = time.perf_counter) -> SyncCosts:
    """Measure the cache's upkeep against the app's stored index, as a second process sees it."""
    embedder = app.config.get("SEARCH_EMBEDDER") or HashingEmbedder()
    db = get_db(app)
    with app.app_context(), db.new_session() as session:
        store, search = SqlEmbeddingStore(session), MarketSearch(embedder)
        cold = median_ms(lambda: search.sync(store), 1, clock=clock)
        hits = [h.id for h in search.vector_search(search.generate_embedding("Bitcoin"), 10)]
        unchanged, after_write, loaded = [], [], []
        for i in range(repeats):
            # Each sample follows its own write, so each is timed alone (a median of one).
            unchanged.append(median_ms(lambda: (search.sync(store),
                                                search.drop_unstored(store, hits)), 1, clock=clock))
            with db.new_session() as writer:  # another process re-indexes one market
                MarketSearch(embedder).index(SqlEmbeddingStore(writer),
                                             [(hits[i % len(hits)], f"rename {i}")])
                writer.commit()
            after_write.append(median_ms(lambda: loaded.append(search.sync(store)), 1,
                                         clock=clock))
            assert loaded[-1] == 1, f"expected one changed vector, loaded {loaded[-1]}"
    return SyncCosts(len(search), cold, statistics.median(unchanged),
                     statistics.median(after_write))
