"""Semantic search: an embedding interface, a light default embedder, an exact vector index whose
vectors persist in the database (table market_embeddings) and are cached in each process."""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import Any, Protocol, runtime_checkable

import numpy as np
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patterns.db import BEGIN_MODE
from patterns.models import Market, MarketEmbedding, SearchIndexState

# Words that carry no topic. A short, standard English list, fixed before any measurement.
STOP_WORDS = frozenset(
    "a an and are as at be by can do for from has have in is it its of on or than that the "
    "this to was were will with".split()
)
_WORD = re.compile(r"[a-z0-9]+")
# How vectors are stored: float32, little-endian, whatever the machine or the database.
STORED_DTYPE = np.dtype("<f4")


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

    def __init__(self, model: Any, name: str | None = None) -> None:
        self._model = model
        self.dim = int(model.get_sentence_embedding_dimension())
        self.name = name or f"sentence-transformers:{self.dim}"

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


# ---- Where the vectors persist: a port, its SQL adapter, an in-memory fake ----

@dataclass(frozen=True)
class StoredVectors:
    """Vectors read from a store: ids, a (len(ids), dim) float32 matrix, the highest version."""

    ids: list[int]
    vectors: np.ndarray
    version: int


class EmbeddingStore(Protocol):
    """The port: where market vectors persist. Writes join the caller's transaction; reads see
    what is committed."""

    def version(self) -> int: ...
    def save(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> list[int]: ...
    def delete(self, market_id: int) -> bool: ...
    def load(self, model: str, dim: int, *, after: int) -> StoredVectors: ...
    def stored(self, model: str, ids: Sequence[int]) -> set[int]: ...
    def unindexed(self, model: str) -> list[tuple[int, str]]: ...
    def count(self, model: str, market_id: int | None = None) -> int: ...
    def separately(self) -> AbstractContextManager[EmbeddingStore]: ...


def _insert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO UPDATE on both supported databases."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no upsert for {dialect}: add it, or a savepoint and retry")


class SqlEmbeddingStore:
    """Vectors in the market_embeddings table, written through the caller's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @contextmanager
    def _committed(self) -> Iterator[Session | Connection]:
        # A cache shared by the whole process must hold only committed rows: read them on a
        # connection of its own, not in the caller's transaction (an older snapshot, or writes
        # that may yet roll back). A session bound to one connection has nothing else to offer.
        bind = self._session.get_bind()
        if isinstance(bind, Engine):
            with bind.connect() as connection:
                yield connection
        else:
            yield self._session

    def version(self) -> int:
        """The committed index version: 0 before the first write (one primary-key read)."""
        with self._committed() as conn:
            value = conn.execute(select(SearchIndexState.version)
                                 .where(SearchIndexState.id == 1)).scalar()
        return int(value or 0)

    def _next_version(self) -> int:
        # One row, raised by an upsert that locks it until the caller commits: writers queue
        # here, so versions become visible in the order they were taken, and a reader that saw
        # version v has seen every vector stored with a version up to v.
        insert = _insert(self._session)
        stmt = insert(SearchIndexState).values(id=1, version=1)
        stmt = stmt.on_conflict_do_update(index_elements=[SearchIndexState.id],
                                          set_={"version": SearchIndexState.version + 1})
        return int(self._session.execute(stmt.returning(SearchIndexState.version)).scalar_one())

    def save(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> list[int]:
        """Insert or replace the vectors of existing markets (one row each); their ids."""
        if not len(ids):
            return []
        # Lock the markets first (FOR KEY SHARE; nothing on SQLite): a concurrent delete waits
        # for this commit, and every writer takes market rows before the version row: no deadlock.
        lock = select(Market.id).where(Market.id.in_(set(ids))).with_for_update(read=True,
                                                                                 key_share=True)
        present = set(self._session.scalars(lock))
        rows = [{"market_id": i, "model": model, "dim": int(v.shape[0]),
                 "vector": np.asarray(v, dtype=STORED_DTYPE).tobytes()}
                for i, v in zip(ids, vectors, strict=True) if i in present]
        if not rows:
            return []
        version = self._next_version()
        insert = _insert(self._session)
        stmt = insert(MarketEmbedding).values([r | {"version": version} for r in rows])
        # An upsert, not check-then-insert: a row stored meanwhile by another process is
        # replaced instead of failing on the primary key.
        stmt = stmt.on_conflict_do_update(
            index_elements=[MarketEmbedding.market_id],
            set_={c: stmt.excluded[c] for c in ("model", "dim", "vector", "version")})
        self._session.execute(stmt)
        return sorted({r["market_id"] for r in rows})

    def delete(self, market_id: int) -> bool:
        """Delete a market's vector; False when it had none."""
        row = MarketEmbedding.market_id == market_id
        # Look first: deleting nothing must not take a write lock (on SQLite, the whole file,
        # which a caller holding an uncommitted write would wait for).
        if self._session.scalar(select(MarketEmbedding.market_id).where(row)) is None:
            return False
        return bool(self._session.execute(delete(MarketEmbedding).where(row)).rowcount)

    def load(self, model: str, dim: int, *, after: int) -> StoredVectors:
        """The committed vectors of this model stored with a version above `after`."""
        stmt = (select(MarketEmbedding.market_id, MarketEmbedding.version, MarketEmbedding.vector)
                .where(MarketEmbedding.model == model, MarketEmbedding.dim == dim,
                       MarketEmbedding.version > after))
        with self._committed() as conn:
            rows = conn.execute(stmt).all()
        # One join and one frombuffer: far faster than a numpy array per row.
        matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=STORED_DTYPE)
        return StoredVectors([r[0] for r in rows],
                             matrix.reshape(len(rows), dim).astype(np.float32),
                             max((r[1] for r in rows), default=after))

    def stored(self, model: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids have a committed vector of this model."""
        if not ids:
            return set()
        # By primary key only, the model compared here: with `model = :m` in the WHERE clause the
        # planner may prefer the (model, version) index and scan every vector of the model.
        stmt = select(MarketEmbedding.market_id, MarketEmbedding.model).where(
            MarketEmbedding.market_id.in_(set(ids)))
        with self._committed() as conn:
            return {i for i, m in conn.execute(stmt) if m == model}

    def unindexed(self, model: str) -> list[tuple[int, str]]:
        """(id, text) of the markets with no vector of this model, in id order."""
        has_vector = exists().where(MarketEmbedding.market_id == Market.id,
                                    MarketEmbedding.model == model)
        stmt = (select(Market.id, Market.name, Market.description).where(~has_vector)
                .order_by(Market.id))
        return [(i, document(n, d)) for i, n, d in self._session.execute(stmt)]

    def count(self, model: str, market_id: int | None = None) -> int:
        """How many committed vectors of this model (for one market: 0 or 1)."""
        stmt = select(func.count()).select_from(MarketEmbedding).where(
            MarketEmbedding.model == model)
        if market_id is not None:
            stmt = stmt.where(MarketEmbedding.market_id == market_id)
        with self._committed() as conn:
            return int(conn.execute(stmt).scalar_one())

    @contextmanager
    def separately(self) -> Iterator[EmbeddingStore]:
        """A store on a session of its own, committed at the end (maintenance, not a use case)."""
        bind = self._session.get_bind()
        if not isinstance(bind, Engine):  # one connection only: stay in the caller's transaction
            yield self
            return
        if bind.dialect.name == "sqlite":
            # It reads, then writes: a deferred BEGIN fails "database is locked" at once when
            # another connection committed in between (two first searches at the same time).
            bind = bind.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
        with Session(bind) as session, session.begin():
            yield SqlEmbeddingStore(session)


class InMemoryEmbeddingStore:
    """The fake beside the fake repository: same contract, rows in a dict, no transactions."""

    def __init__(self, repo: Any) -> None:
        self._repo = weakref.ref(repo)  # the store lives as long as its repository, no longer
        self._rows: dict[int, tuple[str, int, bytes, int]] = {}
        self._version = 0

    def _alive(self, market_id: int) -> bool:
        # What ON DELETE CASCADE does in SQL: a vector whose market is gone is gone too.
        repo = self._repo()
        return repo is not None and repo.find_by_id(market_id) is not None

    def version(self) -> int:
        """The index version."""
        return self._version

    def save(self, model: str, ids: Sequence[int], vectors: np.ndarray) -> list[int]:
        """Insert or replace the vectors of existing markets; their ids."""
        keep = [(i, v) for i, v in zip(ids, vectors, strict=True) if self._alive(i)]
        if keep:
            self._version += 1
        for i, v in keep:
            blob = np.asarray(v, dtype=STORED_DTYPE).tobytes()
            self._rows[i] = (model, int(v.shape[0]), blob, self._version)
        return sorted({i for i, _ in keep})

    def delete(self, market_id: int) -> bool:
        """Delete a market's vector; False when it had none."""
        return self._rows.pop(market_id, None) is not None

    def _live(self, model: str) -> Iterator[tuple[int, tuple[str, int, bytes, int]]]:
        return ((i, row) for i, row in self._rows.items() if row[0] == model and self._alive(i))

    def load(self, model: str, dim: int, *, after: int) -> StoredVectors:
        """The vectors of this model stored with a version above `after`."""
        rows = [(i, row) for i, row in self._live(model) if row[1] == dim and row[3] > after]
        matrix = np.frombuffer(b"".join(row[2] for _, row in rows), dtype=STORED_DTYPE)
        vectors = matrix.reshape(len(rows), dim).astype(np.float32)
        return StoredVectors([i for i, _ in rows], vectors,
                             max((row[3] for _, row in rows), default=after))

    def stored(self, model: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids have a vector of this model."""
        return {i for i, _ in self._live(model)} & set(ids)

    def unindexed(self, model: str) -> list[tuple[int, str]]:
        """(id, text) of the markets with no vector of this model, in id order."""
        repo, have, out, offset = self._repo(), {i for i, _ in self._live(model)}, [], 0
        while repo is not None and (page := repo.find_all(limit=500, offset=offset)):
            out += [(m.id, document(m.name, m.description)) for m in page if m.id not in have]
            offset += len(page)
        return out

    def count(self, model: str, market_id: int | None = None) -> int:
        """How many vectors of this model (for one market: 0 or 1)."""
        return sum(1 for i, _ in self._live(model) if market_id in (None, i))

    def separately(self) -> AbstractContextManager[EmbeddingStore]:
        """No transactions to keep apart: this store itself."""
        return nullcontext(self)


_FAKE_STORES: weakref.WeakKeyDictionary[Any, InMemoryEmbeddingStore] = weakref.WeakKeyDictionary()


def embedding_store(repo: Any) -> EmbeddingStore:
    """Where a repository's vectors persist: beside its rows, through the same session (SQL), or
    in one fake per fake repository."""
    session = getattr(repo, "_session", None)  # SqlAlchemyMarketRepository's unit of work
    if isinstance(session, Session):
        return SqlEmbeddingStore(session)
    store = _FAKE_STORES.get(repo)
    if store is None:
        store = _FAKE_STORES.setdefault(repo, InMemoryEmbeddingStore(repo))
    return store


# ---- The per-process cache of the stored index ----

class MarketSearch:
    """One process's copy of the stored index: numpy vectors, refreshed when the store changed."""

    def __init__(self, embedder: Embedder | None = None, *, min_score: float = 0.0) -> None:
        self.embedder: Embedder = embedder or HashingEmbedder()
        self.model = embedder_name(self.embedder)
        self.min_score = min_score
        self._index = VectorIndex(self.embedder.dim)
        self._version: int | None = None  # the store's version this cache reflects
        # Requests run in threads: one lock keeps loads, drops and searches from interleaving.
        self._lock = threading.RLock()

    @property
    def loaded(self) -> bool:
        """Whether the cache has been filled from a store."""
        return self._version is not None

    @property
    def version(self) -> int | None:
        """The store version the cache holds (None before the first load)."""
        return self._version

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, market_id: object) -> bool:
        return market_id in self._index

    def index(self, store: EmbeddingStore, documents: Sequence[tuple[int, str]]) -> list[int]:
        """Embed (id, text) pairs and store them in the caller's transaction; the ids stored."""
        if not documents:
            return []
        vectors = self.embedder.embed([text for _, text in documents])
        return store.save(self.model, [i for i, _ in documents], vectors)

    def remove(self, store: EmbeddingStore, market_id: int) -> bool:
        """Delete a market's stored vector in the caller's transaction; False when it had none."""
        return store.delete(market_id)

    def backfill(self, store: EmbeddingStore, *, batch: int = 1000) -> int:
        """Store vectors for the markets that have none of this model (rows written without the
        service: demo data, imports, another model before), in a transaction of its own."""
        stored = 0
        with store.separately() as own:
            docs = iter(own.unindexed(self.model))
            while chunk := list(islice(docs, batch)):
                stored += len(self.index(own, chunk))
        return stored

    def sync(self, store: EmbeddingStore) -> int:
        """Bring the cache up to the store's committed vectors; how many it loaded. When nothing
        changed this costs one primary-key read."""
        version = store.version()
        if version == self._version:
            return 0
        with self._lock:
            if self._version is not None and version <= self._version:
                return 0  # another thread got here first (or this bind shows an older snapshot)
            fresh = store.load(self.model, self.embedder.dim, after=self._version or 0)
            self._index.upsert(fresh.ids, fresh.vectors)
            self._version = max(version, fresh.version)
            return len(fresh.ids)

    def drop_unstored(self, store: EmbeddingStore, market_ids: Sequence[int]) -> list[int]:
        """Forget cached ids whose stored vector is gone (deleted with its market, or removed
        from search by any process); the ids forgotten."""
        with self._lock:  # between the read and the drops, no load may bring one back
            gone = set(market_ids) - store.stored(self.model, market_ids)
            return [i for i in market_ids if i in gone and self._index.remove(i)]

    def forget(self, market_id: int) -> bool:
        """Drop one id from this cache only (after a committed delete); False when absent."""
        with self._lock:
            return self._index.remove(market_id)

    def generate_embedding(self, text: str) -> np.ndarray:
        """The query's vector (the seed's generate_embedding)."""
        return self.embedder.embed([text])[0]

    def vector_search(self, embedding: np.ndarray, limit: int = 10) -> list[Hit]:
        """The most similar cached markets, best first (the seed's vector_search)."""
        with self._lock:
            return self._index.search(embedding, limit, min_score=self.min_score)


EXTENSION = "market_search"


def market_search(app: Flask | None = None) -> MarketSearch:
    """The app's cache of the stored index, created on first use (config SEARCH_EMBEDDER plugs
    another model)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    search = app.extensions.get(EXTENSION)
    if search is None:
        fresh = MarketSearch(app.config.get("SEARCH_EMBEDDER"))
        search = app.extensions.setdefault(EXTENSION, fresh)  # two first calls: one wins
    return search
