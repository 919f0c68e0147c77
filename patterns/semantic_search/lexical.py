"""The lexical half of hybrid search: which ids contain which words, in memory."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence

from patterns.semantic_search.embedders import words


class WordIndex:
    """An inverted index: word → the ids whose text contains it (the embedder's words)."""

    def __init__(self) -> None:
        self._ids: defaultdict[str, set[int]] = defaultdict(set)  # who contains each word
        self._words: dict[int, tuple[str, ...]] = {}  # each id's words, to undo its postings

    def __len__(self) -> int:
        return len(self._words)

    def upsert(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Index (or re-index) one text per id; the same call twice changes nothing."""
        for item, text in zip(ids, texts, strict=True):
            if item in self._words:
                self.remove(item)
            # Interned: 100,000 demo texts share a few hundred distinct words (half the memory).
            vocabulary = tuple(map(sys.intern, set(words(text))))
            self._words[item] = vocabulary
            for word in vocabulary:
                self._ids[word].add(item)

    def remove(self, item_id: int) -> bool:
        """Forget an id; False when it was not there."""
        vocabulary = self._words.pop(item_id, None)
        if vocabulary is None:
            return False
        for word in vocabulary:
            postings = self._ids[word]
            postings.discard(item_id)
            if not postings:
                del self._ids[word]
        return True

    def matching(self, query: str) -> set[int]:
        """The ids whose text shares at least one word with the query (stop words aside)."""
        found: set[int] = set()
        for word in set(words(query)):
            if word in self._ids:  # not self._ids[word]: that would add an empty entry
                found |= self._ids[word]
        return found
