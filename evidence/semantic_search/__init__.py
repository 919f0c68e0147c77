"""Lesson 13's evidence: search quality on labelled queries, the stored index at size, what a
process's cache costs to keep in step, and the exercise check."""

from evidence.semantic_search.exercise import ObservedStore, check_refresh
from evidence.semantic_search.quality import (
    LABELLED_QUERIES,
    SEARCH_DEMO_ROWS,
    Facets,
    K,
    LabelledQuery,
    QueryScore,
    SearchEvaluation,
    evaluate_search,
    facets,
    like_search,
    precision_at_k,
)
from evidence.semantic_search.stored import (
    SyncCosts,
    build_index,
    build_words,
    same_database_app,
    store_index,
    stored_demo_app,
    sync_costs,
    top10_latency_ms,
    top10_latency_pair_ms,
)

__all__ = [
    "K", "LABELLED_QUERIES", "SEARCH_DEMO_ROWS", "Facets", "LabelledQuery", "ObservedStore",
    "QueryScore", "SearchEvaluation", "SyncCosts", "build_index", "build_words", "check_refresh",
    "evaluate_search", "facets", "like_search", "precision_at_k", "same_database_app",
    "store_index", "stored_demo_app", "sync_costs", "top10_latency_ms", "top10_latency_pair_ms",
]
