"""An exact vector index: cosine top-k over unit vectors in one numpy matrix, a preferred tier
first, ties by id."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np


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

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the ids and of their (len, dim) vectors, in row order."""
        n = len(self._row)
        return self._ids[:n].copy(), self._matrix[:n].copy()

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

    def search(self, query: np.ndarray, k: int, *, min_score: float = 0.0,
               first: Collection[int] = ()) -> list[Hit]:
        """The k best ids, best first: those in `first` (whatever their score) ahead of the rest,
        then by score above min_score; equal scores by id."""
        n = len(self._row)
        if n == 0 or k <= 0:
            return []
        scores = self._matrix[:n] @ np.asarray(query, dtype=np.float32)
        # Which rows are in the first tier: one vectorized lookup, not one dict lookup per id.
        tier = np.isin(self._ids[:n], np.fromiter(first, dtype=np.int64, count=len(first)))
        candidates = np.flatnonzero(tier | (scores > min_score))
        if len(candidates) > k:
            # argpartition finds the k best in O(n), but breaks ties at the k-th score
            # arbitrarily: keep every candidate that ties with the k-th, then sort them all.
            # A cosine lies in -1..1, so +4 puts the whole first tier above every other row.
            key = scores[candidates] + 4.0 * tier[candidates]
            kth = np.partition(key, len(candidates) - k)[len(candidates) - k]
            candidates = candidates[key >= kth]
        order = np.lexsort((self._ids[candidates], -scores[candidates], ~tier[candidates]))[:k]
        best = candidates[order]
        return [Hit(int(self._ids[i]), float(scores[i])) for i in best]
