"""Query optimization: fetch only shown columns, index the hot query, page by key, bulk insert."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Select, Table, insert, select, text
from sqlalchemy.orm import Session

from patterns.models import Market, MarketStatus

MARKETS = cast(Table, Market.__table__)  # the Table under the model, for Core and the driver

# The columns a market list shows; everything else (description, dates) stays in the database.
LISTED = (Market.id, Market.name, Market.status, Market.volume)

# The seed's hot query filters on status and sorts on volume: one composite index serves both.
# No DESC needed: a B-tree is read backward as easily as forward for a one-column order.
HOT_INDEX = "ix_markets_status_volume"
HOT_INDEX_DDL = f"CREATE INDEX {HOT_INDEX} ON markets (status, volume)"


# ---- 1. Projection: only the needed columns ---------------------------------------------------

def hot_query(limit: int = 10) -> Select[int, str, MarketStatus, Decimal]:
    """The seed's hot query in 2.x form: the top active markets by volume, listed columns only."""
    return (select(*LISTED)
            .where(Market.status == MarketStatus.ACTIVE)
            .order_by(Market.volume.desc())
            .limit(limit))


def load_columns(session: Session, rows: int) -> list[Row[Any]]:
    """The first rows markets as plain tuples of the four listed columns, not as entities."""
    return list(session.execute(select(*LISTED).order_by(Market.id).limit(rows)))


# ---- 2. Plans: does the hot query use an index? ----------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A query plan reduced to what both SQLite and PostgreSQL can answer the same way."""

    lines: tuple[str, ...]
    index: str | None
    sorts: bool

    @property
    def uses_index(self) -> bool:
        """Whether the plan reads through an index rather than scanning the table."""
        return self.index is not None

    @classmethod
    def from_lines(cls, lines: Sequence[str]) -> Plan:
        """Read a plan's text lines, SQLite's or PostgreSQL's, into the normalized answers."""
        lines = tuple(line.strip() for line in lines)
        index = next((next(g for g in m.groups() if g) for line in lines
                      if (m := _INDEX.search(line))), None)
        return cls(lines, index, any(_SORT.search(line) for line in lines))

    def __str__(self) -> str:
        used = f"yes ({self.index})" if self.index else "no (reads the whole table)"
        return f"uses index: {used}\nextra sort step: {'yes' if self.sorts else 'no'}"


# SQLite: "SEARCH markets USING INDEX ix (status=?)"; PostgreSQL: "Index Scan using ix on markets".
_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\w+)"
                    r"|Index (?:Only )?Scan(?: Backward)? using (\w+)"
                    r"|Bitmap Index Scan on (\w+)")
# SQLite: "USE TEMP B-TREE FOR [RIGHT PART OF] ORDER BY"; PostgreSQL: a "Sort" or
# "Incremental Sort" node (the index gives the first sort key, the rest is sorted after).
_SORT = re.compile(r"TEMP B-TREE FOR (?:RIGHT PART OF )?ORDER BY"
                   r"|^(?:->\s+)?(?:Incremental )?Sort$")


_EXPLAINS = itertools.count(1)


def explain(session: Session, stmt: Select[Any]) -> Plan:
    """EXPLAIN (QUERY PLAN) a statement on whatever backend the session uses, normalized."""
    bind = session.get_bind()
    # Literal values so the plan is for these constants (both planners may use them); the
    # statement is ours, never user input.
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    if bind.dialect.name == "sqlite":
        # A fresh comment each time: the driver caches prepared statements by their text, and a
        # cached EXPLAIN keeps describing the plan of an index that was dropped since.
        sql = f"EXPLAIN QUERY PLAN /* {next(_EXPLAINS)} */ {sql}"
        lines = [row[-1] for row in session.execute(text(sql))]
    else:
        lines = [row[0] for row in session.execute(text(f"EXPLAIN (COSTS OFF) {sql}"))]
    return Plan.from_lines(lines)


def analyze(session: Session) -> None:
    """Refresh the planner's statistics (PostgreSQL may ignore an index it has no numbers for)."""
    session.execute(text("ANALYZE markets"))
    session.commit()


def create_hot_index(session: Session) -> None:
    """Create the composite index for the hot query, then refresh statistics."""
    session.execute(text(HOT_INDEX_DDL))
    analyze(session)


def drop_hot_index(session: Session) -> None:
    """Drop the hot query's index (to measure, or to repeat the lesson)."""
    session.execute(text(f"DROP INDEX IF EXISTS {HOT_INDEX}"))
    session.commit()


# ---- 3. Pagination: OFFSET versus keyset ---------------------------------------------------

def offset_page(session: Session, offset: int, size: int = 20) -> list[Row[Any]]:
    """A page by OFFSET: the database produces and throws away `offset` rows first."""
    stmt = select(*LISTED).order_by(Market.id).offset(offset).limit(size)
    return list(session.execute(stmt))


def keyset_page(session: Session, after_id: int | None, size: int = 20) -> list[Row[Any]]:
    """A page by key (seek method): start right after the last id the client saw."""
    stmt = select(*LISTED).order_by(Market.id).limit(size)
    if after_id is not None:
        stmt = stmt.where(Market.id > after_id)
    return list(session.execute(stmt))


# ---- 4. Bulk insert: the ladder a team climbs -------------------------------------------------
# Each rung sends fewer statements or does less per row than the one before; all commit once.

def insert_add_all(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Build every object, add them all, commit once; the ORM still fetches each new id."""
    session.add_all([Market(**row) for row in rows])
    session.commit()


def insert_executemany(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """ORM bulk insert(): a list of dicts, one executemany, no objects, no ids fetched back."""
    session.execute(insert(Market), list(rows))
    session.commit()


def insert_core(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Core insert on the Table: one executemany that skips the ORM's bulk machinery too."""
    session.connection().execute(MARKETS.insert(), list(rows))
    session.commit()


def driver_rows(session: Session, columns: Sequence[str],
                rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as the driver takes them: each value through its column type's bind processor."""
    dialect = session.get_bind().dialect
    # The same conversions SQLAlchemy would apply (enum to its string, money, UTC datetimes),
    # done once per column rather than looked up per value.
    # dialect_impl first: a TypeDecorator's own bind_processor stops at its generic impl and
    # skips the dialect's (SQLite's DATETIME writes its text form; sqlite3's adapter another).
    procs = [MARKETS.c[name].type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
             for name in columns]
    return [tuple(p(row.get(c)) for p, c in zip(procs, columns, strict=True)) for row in rows]


def insert_fastest(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """The backend's fastest path: COPY on PostgreSQL, the driver's executemany on SQLite."""
    # Below SQLAlchemy: the model's Python defaults do not run, so every row names every column
    # it needs (a missing created_at would be NULL, not "now").
    columns = list(rows[0]) if rows else []
    unknown = set(columns) - set(MARKETS.c.keys())
    if unknown:  # the names go into the SQL text: only the table's own columns may
        raise ValueError(f"not market columns: {', '.join(sorted(unknown))}")
    values = driver_rows(session, columns, rows)
    connection = session.connection()
    names, table = ", ".join(columns), MARKETS.name
    if connection.dialect.name == "postgresql":
        # psycopg 3 streams the rows in COPY's own format: no INSERT is parsed or planned at all.
        raw: Any = connection.connection.driver_connection  # the psycopg Connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for value in values:
                copy.write_row(value)
    elif values:
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
    session.commit()
