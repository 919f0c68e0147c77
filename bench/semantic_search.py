"""search.*: precision@5 of semantic search and of LIKE on labelled queries; top-10 latency; the
cost of keeping a process's cache in step with the stored index."""

from __future__ import annotations

from evidence.lab import lesson_app
from evidence.semantic_search import (
    LABELLED_QUERIES,
    SEARCH_DEMO_ROWS,
    build_index,
    build_words,
    evaluate_search,
    stored_demo_app,
    sync_costs,
    top10_latency_ms,
)
from patterns.db import get_db


def figures(quick: bool = False) -> dict[str, float | int]:
    """search.precision_at_5 and search.like_precision_at_5 (480 demo markets, 20 labelled
    queries); search.top10_ms_100k: median ms to embed a query, find the markets sharing one of its
    words and rank 100,000 vectors (those first);
    search.cold_load_ms_100k / sync_unchanged_ms_100k / sync_after_write_ms_100k: a process's
    first load of 100,000 stored vectors, the per-search check when nothing changed, and the
    refresh after another process stored one vector (medians, on the configured database)."""
    app = lesson_app(rows=SEARCH_DEMO_ROWS)
    try:
        evaluation = evaluate_search(app)
    finally:
        get_db(app).close()
    vectors = 20_000 if quick else 100_000  # quick: a smaller index under the same name
    index = build_index(vectors)
    latency = top10_latency_ms(index, words=build_words(vectors), repeats=20 if quick else 100)
    stored = stored_demo_app(vectors, index=index)
    try:
        costs = sync_costs(stored, repeats=10 if quick else 30)
    finally:
        get_db(stored).close()
    return {
        "search.labelled_queries": len(LABELLED_QUERIES),
        "search.precision_at_5": round(evaluation.precision_at_5, 3),
        "search.like_precision_at_5": round(evaluation.like_precision_at_5, 3),
        "search.top10_ms_100k": round(latency, 2),
        "search.index_vectors": vectors,
        "search.cold_load_ms_100k": round(costs.cold_load_ms, 1),
        "search.sync_unchanged_ms_100k": round(costs.unchanged_ms, 3),
        "search.sync_after_write_ms_100k": round(costs.after_write_ms, 3),
    }
