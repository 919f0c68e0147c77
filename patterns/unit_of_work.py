"""The unit of work: one transaction, the repositories that write in it, and its commit — with a
fake that records what was committed (cosmicpython's shape)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from patterns.models import User
from patterns.repository import (
    InMemoryMarketRepository,
    MarketRepository,
    SqlAlchemyMarketRepository,
)
from patterns.semantic_search.store import (
    EmbeddingStore,
    InMemoryEmbeddingStore,
    SqlEmbeddingStore,
)


class UnitOfWork(ABC):
    """Markets and their vectors, written together, committed (or rolled back) once."""

    markets: MarketRepository
    embeddings: EmbeddingStore

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Roll back on error only: a request's session may hold rows the caller still reads,
        # and a rollback would expire them all (one more SELECT each).
        if error is not None:
            self.rollback()

    @abstractmethod
    def commit(self) -> None:
        """Make this unit's writes durable, all of them."""

    @abstractmethod
    def rollback(self) -> None:
        """Throw this unit's writes away, all of them."""


class SqlAlchemyUnitOfWork(UnitOfWork):
    """A session the caller owns (the request's), both repositories over it, and its commit."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.markets = SqlAlchemyMarketRepository(session)
        # Beside the markets, in the same transaction: a vector commits with its market.
        self.embeddings = SqlEmbeddingStore(session)

    def commit(self) -> None:
        """Commit the session's transaction."""
        self.session.commit()

    def rollback(self) -> None:
        """Roll the session's transaction back."""
        self.session.rollback()


class FakeUnitOfWork(UnitOfWork):
    """In memory: the fake repository, a fake store beside it, and a count of commits."""

    def __init__(self, markets: InMemoryMarketRepository | None = None, *,
                 creators: Sequence[User] = ()) -> None:
        self.markets: InMemoryMarketRepository = (
            markets if markets is not None else InMemoryMarketRepository(creators))
        self.embeddings: InMemoryEmbeddingStore = InMemoryEmbeddingStore(self.markets)
        self.commits = 0
        self.rollbacks = 0

    @property
    def committed(self) -> bool:
        """Whether anything was committed (cosmicpython's flag; `commits` says how often)."""
        return self.commits > 0

    def commit(self) -> None:
        """Record a commit: a fake has nothing to make durable."""
        self.commits += 1

    def rollback(self) -> None:
        """Record a rollback: the fake's rows cannot be taken back, so tests count it instead."""
        self.rollbacks += 1
