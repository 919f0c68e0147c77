"""Embedders: texts in, unit-length vectors out; a light default that needs no model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

# Words that carry no topic. A short, standard English list, fixed before any measurement.
STOP_WORDS = frozenset(
    "a an and are as at be by can do for from has have in is it its of on or than that the "
    "this to was were will with".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words of a text that carry its topic: lower-case runs of letters and digits, stop
    words dropped (what the hashing embedder hashes, and what the word index matches)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed size; similar meaning → similar direction."""

    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 array whose non-zero rows have length 1."""
        ...


def embedder_name(embedder: Embedder) -> str:
    """What the model column records: the embedder's `name`, else its class and size."""
    return getattr(embedder, "name", None) or f"{type(embedder).__name__}-{embedder.dim}"


def document(name: str, description: str) -> str:
    """The text of a market that search compares a query with."""
    return f"{name}\n{description}"


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
        # Stored with every vector: a different size or n-gram set is a different model.
        self.name = f"hashing-v1:{dim}:{','.join(map(str, char_ngrams))}"

    def features(self, text: str) -> list[tuple[int, float]]:
        """(column, weight) pairs for one text; repeated features add up."""
        tokens = words(text)
        feats: list[tuple[int, float]] = []
        for word in tokens:
            feats.extend(_word_features(word, self.dim, self.char_ngrams))
        # Word pairs keep a little order: "rate cut" is not "cut rate" (and "new" + "device").
        pairs = zip(tokens, tokens[1:], strict=False)
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
        counts = np.bincount(flat, weights=vals, minlength=len(texts) * self.dim)
        out = counts.reshape(len(texts), self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=out, where=norms > 0)


class SentenceTransformerEmbedder:
    """The same interface over a sentence-transformers model (anything with its encode())."""

    def __init__(self, model: Any, name: str | None = None) -> None:
        self._model = model
        self.dim = int(model.get_sentence_embedding_dimension())
        self.name = name or f"sentence-transformers:{self.dim}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The model's normalized embeddings as a float32 array."""
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
