"""Evidence for lesson 03: precision@5 of semantic search and of LIKE, search latency, and the
cost of keeping each process's cache in step with the stored index."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from flask import Flask
from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from patterns.app import create_app
from patterns.db import get_db
from patterns.demo_data import TOPICS, demo_rows, seed_demo_data
from patterns.models import Market, MarketEmbedding, SearchIndexState
from patterns.repository import SqlAlchemyMarketRepository
from patterns.semantic_search import (
    STORED_DTYPE,
    Embedder,
    HashingEmbedder,
    MarketSearch,
    SqlEmbeddingStore,
    VectorIndex,
    document,
    embedder_name,
)
from patterns.service_layer import MarketService

# 480 demo markets: 80 per topic, about 10 per (question, subject) pair, so every query below
# has at least 5 relevant markets and precision@5 can reach 1.0.
SEARCH_DEMO_ROWS = 480
K = 5


@dataclass(frozen=True)
class LabelledQuery:
    """A query as a user would type it, and which markets answer it (by the generator's facets)."""

    text: str
    topic: str | None = None
    question: str | None = None  # a template of demo_data.TOPICS, e.g. "Will {s} reach the final?"
    subject: str | None = None

    def relevant(self, facets: Facets) -> bool:
        """Whether a market with these facets answers the query."""
        pairs = ((self.topic, facets.topic), (self.question, facets.question),
                 (self.subject, facets.subject))
        return all(want is None or want == have for want, have in pairs)


# Written once, before any measurement, and not tuned afterwards. Five are plain keywords, where
# LIKE is at its best; the rest say what a reader means in words the market names do not use.
LABELLED_QUERIES: tuple[LabelledQuery, ...] = (
    LabelledQuery("Bitcoin", subject="Bitcoin"),
    LabelledQuery("Kenya", subject="Kenya"),
    LabelledQuery("ECB", subject="the ECB"),
    LabelledQuery("election", topic="elections"),
    LabelledQuery("championship", question="Will {s} win the championship?"),
    LabelledQuery("cryptocurrency", topic="crypto"),
    LabelledQuery("crypto ETF", question="Will {s} ETF inflows exceed forecasts?"),
    LabelledQuery("exchange-traded fund flows", question="Will {s} ETF inflows exceed forecasts?"),
    LabelledQuery("Ethereum hitting a new annual peak",
                  question="Will {s} close above its yearly high?", subject="Ethereum"),
    LabelledQuery("who wins the presidential vote", question="Will {s} win the general election?"),
    LabelledQuery("voter participation above seventy percent",
                  question="Will turnout exceed 70% in {s}?"),
    LabelledQuery("Real Madrid title", question="Will {s} win the championship?",
                  subject="Real Madrid"),
    LabelledQuery("Celtics make it to the finals", question="Will {s} reach the final?",
                  subject="the Boston Celtics"),
    LabelledQuery("heat wave", question="Will {s} have a heatwave in July?"),
    LabelledQuery("heavy rain in Mumbai", question="Will {s} see record rainfall this year?",
                  subject="Mumbai"),
    LabelledQuery("Chicago weather", topic="weather", subject="Chicago"),
    LabelledQuery("new iPhone launch", question="Will {s} ship a new flagship device?",
                  subject="Apple"),
    LabelledQuery("quantum computing", question="Will {s} announce a quantum chip?"),
    LabelledQuery("central bank lowers interest rates",
                  question="Will {s} cut interest rates this quarter?"),
    LabelledQuery("inflation under two percent in Canada",
                  question="Will {s} inflation fall below 2%?", subject="Canada"),
)


@dataclass(frozen=True)
class Facets:
    """What the demo generator chose for a market: topic, question template and subject."""

    topic: str
    question: str
    subject: str


def _template_patterns() -> list[tuple[re.Pattern[str], str, str]]:
    out = []
    for topic, templates, _subjects in TOPICS:
        for template in templates:
            head, tail = (re.escape(part) for part in template.split("{s}"))
            out.append((re.compile(rf"^{head}(?P<s>.+){tail} #\d+$"), topic, template))
    return out


_PATTERNS = _template_patterns()


def facets(name: str) -> Facets:
    """The facets of a demo market, read back from its name."""
    for pattern, topic, template in _PATTERNS:
        match = pattern.match(name)
        if match:
            return Facets(topic, template, match.group("s"))
    raise ValueError(f"not a demo market name: {name!r}")


def like_search(session: Session, query: str, limit: int = K) -> list[Market]:
    """The plain search a team writes first: name or description LIKE %query%, in id order."""
    # icontains escapes % and _ in the query (autoescape) and ignores case on both backends.
    stmt = (select(Market).where(or_(Market.name.icontains(query, autoescape=True),
                                     Market.description.icontains(query, autoescape=True)))
            .order_by(Market.id).limit(limit))
    return list(session.scalars(stmt))


def precision_at_k(found: Sequence[bool], k: int = K) -> float:
    """The share of the first k results that are relevant (missing results count as misses)."""
    return sum(found[:k]) / k


@dataclass(frozen=True)
class QueryScore:
    """One labelled query: how many relevant markets exist, and precision@5 of each method."""

    query: str
    relevant: int
    semantic: float
    like: float


@dataclass(frozen=True)
class SearchEvaluation:
    """Per-query scores and their means."""

    queries: list[QueryScore]

    @property
    def precision_at_5(self) -> float:
        """Mean precision@5 of semantic search."""
        return statistics.fmean(q.semantic for q in self.queries)

    @property
    def like_precision_at_5(self) -> float:
        """Mean precision@5 of the LIKE search."""
        return statistics.fmean(q.like for q in self.queries)


def evaluate_search(app: Flask, queries: Sequence[LabelledQuery] = LABELLED_QUERIES, *,
                    embedder: Embedder | None = None) -> SearchEvaluation:
    """Run every labelled query through the service's search and through LIKE; score both."""
    with app.app_context(), get_db(app).new_session() as session:
        service = MarketService(SqlAlchemyMarketRepository(session),
                                search=MarketSearch(embedder or HashingEmbedder()))
        labels = {m.id: facets(m.name) for m in session.scalars(select(Market))}
        scores = []
        for q in queries:
            semantic = [labels[r.market.id] for r in service.search_markets(q.text, limit=K)]
            like = [labels[m.id] for m in like_search(session, q.text, K)]
            scores.append(QueryScore(
                q.text, sum(q.relevant(f) for f in labels.values()),
                precision_at_k([q.relevant(f) for f in semantic]),
                precision_at_k([q.relevant(f) for f in like])))
    return SearchEvaluation(scores)


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


def top10_latency_ms(index: VectorIndex, embedder: Embedder | None = None, *, repeats: int = 60,
                     clock: Callable[[], float] = time.perf_counter) -> float:
    """Median milliseconds to embed a query and find its top 10 (the labelled queries, cycled)."""
    embedder = embedder or HashingEmbedder()
    timings = []
    for i in range(repeats):
        text = LABELLED_QUERIES[i % len(LABELLED_QUERIES)].text
        started = clock()
        index.search(embedder.embed([text])[0], 10)
        timings.append((clock() - started) * 1000)
    return statistics.median(timings)


# ---- One stored index, many processes ----

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


def sync_costs(app: Flask, *, repeats: int = 20,
               clock: Callable[[], float] = time.perf_counter) -> SyncCosts:
    """Measure the cache's upkeep against the app's stored index, as a second process sees it."""
    embedder = app.config.get("SEARCH_EMBEDDER") or HashingEmbedder()
    db = get_db(app)
    with app.app_context(), db.new_session() as session:
        store, search = SqlEmbeddingStore(session), MarketSearch(embedder)
        started = clock()
        search.sync(store)
        cold = (clock() - started) * 1000
        hits = [h.id for h in search.vector_search(search.generate_embedding("Bitcoin"), 10)]
        unchanged, after_write = [], []
        for i in range(repeats):
            started = clock()
            search.sync(store)
            search.drop_unstored(store, hits)
            unchanged.append((clock() - started) * 1000)
            with db.new_session() as writer:  # another process re-indexes one market
                MarketSearch(embedder).index(SqlEmbeddingStore(writer),
                                             [(hits[i % len(hits)], f"rename {i}")])
                writer.commit()
            started = clock()
            loaded = search.sync(store)
            after_write.append((clock() - started) * 1000)
            assert loaded == 1, f"expected one changed vector, loaded {loaded}"
    return SyncCosts(len(search), cold, statistics.median(unchanged),
                     statistics.median(after_write))
