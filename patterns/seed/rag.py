"""A stand-in for the seed's unseen app.rag: the usual shape, one index in a module global."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from patterns.semantic_search import HashingEmbedder

# Module globals: one index for every app in the process, filled once and never told about
# markets created, renamed or deleted afterwards.
_EMBEDDER = HashingEmbedder()
_IDS: list[int] = []
_VECTORS = np.zeros((0, _EMBEDDER.dim), dtype=np.float32)


def index_markets(documents: Iterable[tuple[int, str]]) -> int:
    """Fill the global index from (id, text) pairs, as a start-up script would."""
    global _IDS, _VECTORS
    docs = list(documents)
    _IDS = [i for i, _ in docs]
    _VECTORS = _EMBEDDER.embed([t for _, t in docs])
    return len(_IDS)


def generate_embedding(text: str) -> np.ndarray:
    return _EMBEDDER.embed([text])[0]


def vector_search(embedding: np.ndarray, limit: int = 10) -> list[dict]:
    scores = _VECTORS @ embedding
    best = np.argsort(-scores)[:limit]
    return [{"id": _IDS[i], "score": float(scores[i])} for i in best]
