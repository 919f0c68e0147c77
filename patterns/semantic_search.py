"""Semantic search: an embedding interface, a light default embedder, an exact vector index."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any, Protocol, runtime_checkable

import numpy as np
from flask import Flask, current_app

# Words that carry no topic. A short, standard English list, fixed before any measurement.
STOP_WORDS = frozenset(
    "a an and are as at be by can do for from has have in is it its of on or than that the "
    "this to was were will with".split()
)
_WORD = re.compile(r"[a-z0-9]+")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed size; similar meaning → similar direction."""

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 array whose non-zero rows have length 1."""
        ...


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    # A stable hash: Python's hash() of a str changes with every process (PYTHONHASHSEED).
    h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
    # The sign bit halves the damage of collisions: colliding features cancel on average.
    return h % dim, (1.0 if h >> 63 else -1.0)


@lru_cache(maxsize=65536)
def _word_features(word: str, dim: int,
                   char_ngrams: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """The hashed features of one word: the word itself and its character n-grams."""
    feats = [_bucket("w:" + word, dim)]
    padded = f"<{word}>"  # boundary marks tell a prefix ("<rain") from an inside ("rain")
    grams = [padded[i:i + n] for n in char_ngrams for i in range(len(padded) - n + 1)]
    if grams:
        weight = 1.0 / np.sqrt(len(grams))  # a long word must not drown the short ones
        for g in grams:
            col, sign = _bucket("c:" + g, dim)
            feats.append((col, sign * weight))
    return tuple(feats)


class HashingEmbedder:
    """Hashed words, word pairs and character n-grams in a fixed-size vector: no model needed."""

    def __init__(self, dim: int = 256, char_ngrams: tuple[int, ...] = (3, 4)) -> None:
        self.dim = dim
        self.char_ngrams = char_ngrams

    def features(self, text: str) -> list[tuple[int, float]]:
        """(column, weight) pairs for one text; repeated features add up."""
        words = [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]
        feats: list[tuple[int, float]] = []
        for word in words:
            feats.extend(_word_features(word, self.dim, self.char_ngrams))
        # Word pairs keep a little order: "rate cut" is not "cut rate" (and "new" + "device").
        pairs = zip(words, words[1:], strict=False)
        feats.extend(_bucket(f"b:{a} {b}", self.dim) for a, b in pairs)
        return feats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalized float32 row per text (all zeros when a text has no features)."""
        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            for col, val in self.features(text):
                rows.append(r)
                cols.append(col)
                vals.append(val)
        flat = np.asarray(rows, dtype=np.int64) * self.dim + np.asarray(cols, dtype=np.int64)
        out = np.bincount(flat, weights=vals, minlength=len(texts) * self.dim)
        out = out.reshape(len(texts), self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


class SentenceTransformerEmbedder:
    """The same interface over a sentence-transformers model (anything with its encode())."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.dim = int(model.get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The model's normalized embeddings as a float32 array."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


@dataclass(frozen=True)
class Hit:
    """One search result: which market, how similar (cosine, -1..1)."""

    id: int
    score: float


class VectorIndex:
    """Exact cosine top-k over unit vectors held in one numpy matrix."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._matrix = np.zeros((0, dim), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    def upsert(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Insert or replace one vector per id (idempotent: the same call twice changes nothing)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        new = [i for i in dict.fromkeys(ids) if i not in self._row]
        n = len(self._row)
        if n + len(new) > len(self._ids):  # grow by doubling: amortized O(1) per insert
            capacity = max(n + len(new), 2 * len(self._ids), 16)
            self._matrix = np.resize(self._matrix, (capacity, self.dim))
            self._ids = np.resize(self._ids, capacity)
        for offset, item in enumerate(new):
            self._row[item] = n + offset
            self._ids[n + offset] = item
        for item, vector in zip(ids, vectors, strict=True):
            self._matrix[self._row[item]] = vector

    def remove(self, item_id: int) -> bool:
        """Drop an id; False when it was not there. The last row moves into the hole."""
        row = self._row.pop(item_id, None)
        if row is None:
            return False
        last = len(self._row)
        if row != last:
            moved = int(self._ids[last])
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._row[moved] = row
        return True

    def search(self, query: np.ndarray, k: int, *, min_score: float = 0.0) -> list[Hit]:
        """The k most similar ids scoring above min_score, best first; equal scores by id."""
        n = len(self._row)
        if n == 0 or k <= 0:
            return []
        scores = self._matrix[:n] @ np.asarray(query, dtype=np.float32)
        candidates = np.flatnonzero(scores > min_score)
        if len(candidates) > k:
            # argpartition finds the k best in O(n), but breaks ties at the k-th score
            # arbitrarily: keep every candidate that ties with the k-th, then sort them all.
            kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth]
        order = np.lexsort((self._ids[candidates], -scores[candidates]))[:k]
        best = candidates[order]
        return [Hit(int(self._ids[i]), float(scores[i])) for i in best]


def document(name: str, description: str) -> str:
    """The text of a market that search compares a query with."""
    return f"{name}\n{description}"


class MarketSearch:
    """One app's search index: an embedder and a vector index, built lazily from the database."""

    def __init__(self, embedder: Embedder | None = None, *, min_score: float = 0.0) -> None:
        self.embedder: Embedder = embedder or HashingEmbedder()
        self.min_score = min_score
        self._index = VectorIndex(self.embedder.dim)
        self._built = False
        # Requests run in threads: one lock keeps build, upserts and searches from interleaving.
        self._lock = threading.RLock()

    @property
    def built(self) -> bool:
        """Whether the index has been loaded from storage."""
        return self._built

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._index

    def ensure_built(self, documents: Callable[[], Iterable[tuple[int, str]]], *,
                     batch: int = 1000) -> None:
        """Load every (id, text) once, on first use; later calls do nothing."""
        if self._built:
            return
        with self._lock:
            if self._built:  # another thread built it while this one waited
                return
            index = VectorIndex(self.embedder.dim)
            docs = iter(documents())
            while chunk := list(islice(docs, batch)):
                index.upsert([i for i, _ in chunk], self.embedder.embed([t for _, t in chunk]))
            self._index, self._built = index, True

    def index(self, market_id: int, text: str) -> bool:
        """Insert or refresh one market; skipped (False) while not built: the build will read it."""
        with self._lock:
            if not self._built:
                return False
            self._index.upsert([market_id], self.embedder.embed([text]))
            return True

    def remove(self, market_id: int) -> bool:
        """Forget one market; False when it was not indexed."""
        with self._lock:
            return self._index.remove(market_id)

    def generate_embedding(self, text: str) -> np.ndarray:
        """The query's vector (the seed's generate_embedding)."""
        return self.embedder.embed([text])[0]

    def vector_search(self, embedding: np.ndarray, limit: int = 10) -> list[Hit]:
        """The most similar markets, best first (the seed's vector_search)."""
        with self._lock:
            return self._index.search(embedding, limit, min_score=self.min_score)


EXTENSION = "market_search"


def market_search(app: Flask | None = None) -> MarketSearch:
    """The app's search index, created on first use (config SEARCH_EMBEDDER plugs another model)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    search = app.extensions.get(EXTENSION)
    if search is None:
        fresh = MarketSearch(app.config.get("SEARCH_EMBEDDER"))
        search = app.extensions.setdefault(EXTENSION, fresh)  # two first calls: one wins
    return search
