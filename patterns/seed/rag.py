"""A stand-in for the seed's app.rag, which it imports and never shows: one index in a global.

(a) Adapted from the seed: the whole module. The seed's service imports `generate_embedding`
and `vector_search` from app.rag; this gives them the usual shape of such a module (one index in
module globals, filled by a start-up script), so lesson 03 can run the seed's service.
"""

# ==== (b) The seed's code: none; the seed shows only the import, in service_layer.py ====

# ==== (c) Harness: the stand-in ====
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
    """The query's vector, from the same embedder as the index."""
    return _EMBEDDER.embed([text])[0]


def vector_search(embedding: np.ndarray, limit: int = 10) -> list[dict]:
    """The ids and scores of the limit nearest markets, best first."""
    scores = _VECTORS @ embedding
    best = np.argsort(-scores)[:limit]
    return [{"id": _IDS[i], "score": float(scores[i])} for i in best]
