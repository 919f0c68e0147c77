"""Where the vectors persist: a port, its SQL adapter (table market_embeddings, versioned) and an
in-memory fake beside the fake repository."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, Engine, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from patterns.db import BEGIN_MODE
from patterns.models import Market, MarketEmbedding, SearchIndexState
from patterns.repository import MarketRepository
from patterns.semantic_search.embedders import document

# How vectors are stored: float32, little-endian, whatever the machine or the database.
STORED_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class StoredVectors:
    """Vectors read from a store: ids, a (len(ids), dim) float32 matrix, the highest version,
    and each market's text (for the word index)."""

    ids: list[int]
    vectors: np.ndarray
    version: int
    texts: list[str]


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
        kept = [(i, v) for i, v in zip(ids, vectors, strict=True) if i in present]
        if not kept:
            return []
        version = self._next_version()
        rows = [{"market_id": i, "model": model, "dim": int(v.shape[0]), "version": version,
                 "vector": np.asarray(v, dtype=STORED_DTYPE).tobytes()} for i, v in kept]
        stmt = _insert(self._session)(MarketEmbedding).values(rows)
        # An upsert, not check-then-insert: a row stored meanwhile by another process is
        # replaced instead of failing on the primary key.
        stmt = stmt.on_conflict_do_update(
            index_elements=[MarketEmbedding.market_id],
            set_={c: stmt.excluded[c] for c in ("model", "dim", "vector", "version")})
        self._session.execute(stmt)
        return sorted({i for i, _ in kept})

    def delete(self, market_id: int) -> bool:
        """Delete a market's vector; False when it had none."""
        row = MarketEmbedding.market_id == market_id
        # Look first: deleting nothing must not take a write lock (on SQLite, the whole file,
        # which a caller holding an uncommitted write would wait for).
        if self._session.scalar(select(MarketEmbedding.market_id).where(row)) is None:
            return False
        gone = self._session.execute(delete(MarketEmbedding).where(row)
                                     .returning(MarketEmbedding.market_id)).scalar()
        return gone is not None

    def load(self, model: str, dim: int, *, after: int) -> StoredVectors:
        """The committed vectors of this model stored with a version above `after`, and their
        markets' texts."""
        stmt = (select(MarketEmbedding.market_id, MarketEmbedding.version, MarketEmbedding.vector,
                       Market.name, Market.description)
                .join(Market, Market.id == MarketEmbedding.market_id)
                .where(MarketEmbedding.model == model, MarketEmbedding.dim == dim,
                       MarketEmbedding.version > after))
        with self._committed() as conn:
            rows = conn.execute(stmt).all()
        # One join and one frombuffer: far faster than a numpy array per row.
        matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=STORED_DTYPE)
        return StoredVectors([r[0] for r in rows],
                             matrix.reshape(len(rows), dim).astype(np.float32),
                             max((r[1] for r in rows), default=after),
                             [document(r[3], r[4]) for r in rows])

    def stored(self, model: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids have a committed vector of this model."""
        if not ids:
            return set()
        # By primary key only, the model compared here: with `model = :m` in the WHERE clause the
        # planner may prefer the (model, version) index and scan every vector of the model.
        stmt = select(MarketEmbedding.market_id, MarketEmbedding.model).where(
            MarketEmbedding.market_id.in_(set(ids)))
        with self._committed() as conn:
            rows = conn.execute(stmt).all()
        return {int(i) for i, m in rows if m == model}

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

    def __init__(self, markets: MarketRepository) -> None:
        self._markets = markets
        self._rows: dict[int, tuple[str, int, bytes, int]] = {}
        self._version = 0

    def _alive(self, market_id: int) -> bool:
        # What ON DELETE CASCADE does in SQL: a vector whose market is gone is gone too.
        return self._markets.find_by_id(market_id) is not None

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
        """The vectors of this model stored with a version above `after`, and their texts."""
        rows = [(i, row) for i, row in self._live(model) if row[1] == dim and row[3] > after]
        matrix = np.frombuffer(b"".join(row[2] for _, row in rows), dtype=STORED_DTYPE)
        vectors = matrix.reshape(len(rows), dim).astype(np.float32)
        markets = [self._markets.find_by_id(i) for i, _ in rows]
        return StoredVectors([i for i, _ in rows], vectors,
                             max((row[3] for _, row in rows), default=after),
                             [document(m.name, m.description) if m else "" for m in markets])

    def stored(self, model: str, ids: Sequence[int]) -> set[int]:
        """Which of these ids have a vector of this model."""
        return {i for i, _ in self._live(model)} & set(ids)

    def unindexed(self, model: str) -> list[tuple[int, str]]:
        """(id, text) of the markets with no vector of this model, in id order."""
        have, out, offset = {i for i, _ in self._live(model)}, [], 0
        while page := self._markets.find_all(limit=500, offset=offset):
            out += [(m.id, document(m.name, m.description)) for m in page if m.id not in have]
            offset += len(page)
        return out

    def count(self, model: str, market_id: int | None = None) -> int:
        """How many vectors of this model (for one market: 0 or 1)."""
        return sum(1 for i, _ in self._live(model) if market_id in (None, i))

    def separately(self) -> AbstractContextManager[EmbeddingStore]:
        """No transactions to keep apart: this store itself."""
        return nullcontext(self)
