"""search.*: precision@5 of semantic search and of LIKE on labelled queries; top-10 latency."""

from __future__ import annotations

from patterns.db import get_db
from patterns.lab import lesson_app
from patterns.search_evaluation import (
    LABELLED_QUERIES,
    SEARCH_DEMO_ROWS,
    build_index,
    evaluate_search,
    top10_latency_ms,
)


def figures(quick: bool = False) -> dict[str, float | int]:
    """search.precision_at_5 and search.like_precision_at_5 (480 demo markets, 20 labelled
    queries); search.top10_ms_100k: median ms to embed a query and rank 100,000 vectors."""
    app = lesson_app(rows=SEARCH_DEMO_ROWS)
    try:
        evaluation = evaluate_search(app)
    finally:
        get_db(app).close()
    vectors = 20_000 if quick else 100_000  # quick: a smaller index under the same name
    latency = top10_latency_ms(build_index(vectors), repeats=20 if quick else 100)
    return {
        "search.labelled_queries": len(LABELLED_QUERIES),
        "search.precision_at_5": round(evaluation.precision_at_5, 3),
        "search.like_precision_at_5": round(evaluation.like_precision_at_5, 3),
        "search.top10_ms_100k": round(latency, 2),
        "search.index_vectors": vectors,
    }
