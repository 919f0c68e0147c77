"""The markets domain as SQLAlchemy 2.x typed models: User, Market, Position (+ search vectors)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the column: the same on SQLite and PostgreSQL."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Money(TypeDecorator[Decimal]):
    """Decimal with two places; stored as NUMERIC, read back as an exact Decimal everywhere."""

    # SQLite has no decimal type: it keeps NUMERIC as a float and SQLAlchemy warns when
    # converting back. Quantizing here gives the same Decimal on both backends, silently.
    impl = Numeric(14, 2, asdecimal=False)
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | float | None,
                           dialect: object) -> float | None:
        return None if value is None else float(Decimal(value).quantize(Decimal("0.01")))

    def process_result_value(self, value: float | None, dialect: object) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


class MarketStatus(enum.StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"
    RESOLVED = "resolved"


class Side(enum.StrEnum):
    YES = "yes"
    NO = "no"


def _enum(cls: type[enum.Enum]) -> Enum:
    # VARCHAR + CHECK rather than a native enum type: the same DDL on both backends.
    return Enum(cls, native_enum=False, create_constraint=True, length=16,
                values_callable=lambda e: [m.value for m in e])


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (see Market)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.USER)

    markets: Mapped[list[Market]] = relationship(back_populates="creator")
    positions: Mapped[list[Position]] = relationship(back_populates="user")

    def __repr__(self) -> str:
        role = self.role.value if self.role else None
        return f"User(id={self.id!r}, name={self.name!r}, role={role!r})"


class Market(Base):
    __tablename__ = "markets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MarketStatus] = mapped_column(_enum(MarketStatus), default=MarketStatus.ACTIVE)
    volume: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime.now(UTC))
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    # Many-to-one and one-to-many: the two shapes lesson 06 loads lazily and eagerly.
    creator: Mapped[User] = relationship(back_populates="markets")
    positions: Mapped[list[Position]] = relationship(
        back_populates="market", cascade="all, delete-orphan", order_by="Position.id"
    )

    # SQLite reuses the highest freed rowid without AUTOINCREMENT: a deleted market's id (in a
    # client's link, a cache entry, a log line) would come to name another market.
    __table_args__ = (Index("ix_markets_creator_id", "creator_id"), {"sqlite_autoincrement": True})

    def __repr__(self) -> str:
        status = self.status.value if self.status else None
        return f"Market(id={self.id!r}, name={self.name!r}, status={status!r})"


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (see Market)

    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    side: Mapped[Side] = mapped_column(_enum(Side))
    amount: Mapped[Decimal] = mapped_column(Money)

    market: Mapped[Market] = relationship(back_populates="positions")
    user: Mapped[User] = relationship(back_populates="positions")

    def __repr__(self) -> str:
        side = self.side.value if self.side else None
        return (f"Position(id={self.id!r}, market_id={self.market_id!r}, side={side!r}, "
                f"amount={self.amount!r})")


class MarketEmbedding(Base):
    """A market's search vector, kept in the database so that every process searches one index."""

    __tablename__ = "market_embeddings"

    # One row per market, gone with its market: no orphan vector can outlive a deleted row.
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id", ondelete="CASCADE"),
                                           primary_key=True)
    model: Mapped[str] = mapped_column(String(100))  # which embedder wrote it
    dim: Mapped[int]
    # float32 little-endian bytes: BLOB on SQLite, BYTEA on PostgreSQL, the same bytes back.
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # The index version of the write that stored it: a reader loads only what is newer.
    version: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_market_embeddings_model_version", "model", "version"),)


class SearchIndexState(Base):
    """One row: the index version, raised by every vector write; a reader polls it per search."""

    __tablename__ = "search_index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class WorkbookMeta(Base):
    """Facts about this database itself: its identity (made with the schema), the demo rows."""

    __tablename__ = "workbook_meta"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))

