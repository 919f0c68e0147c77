"""Count the SQL statements run inside a block: the evidence behind every 'how many queries?'."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

# Transaction control is not a query a reader asks about, and drivers differ in how they send
# it (pysqlite gets an explicit BEGIN from us, psycopg sends its own): leave it out of the count.
_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.IGNORECASE)


@dataclass
class QueryLog:
    """The statements seen inside a count_queries() block."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many statements were executed (an executemany counts once)."""
        return len(self.statements)

    def of_kind(self, verb: str) -> list[str]:
        """The statements that start with a verb, e.g. 'SELECT'."""
        return [s for s in self.statements if s.lstrip().upper().startswith(verb.upper())]

    @property
    def selects(self) -> int:
        """How many of them were SELECTs."""
        return len(self.of_kind("SELECT"))


@contextmanager
def count_queries(engine: Engine | None = None) -> Iterator[QueryLog]:
    """Record the statements of one engine (default: every engine) while the block runs."""
    log = QueryLog()
    target: Any = engine if engine is not None else Engine

    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _CONTROL.match(statement):
            log.statements.append(" ".join(statement.split()))

    event.listen(target, "before_cursor_execute", _record)
    try:
        yield log
    finally:
        event.remove(target, "before_cursor_execute", _record)


class TooManyQueries(AssertionError):
    """A block ran more statements than it was allowed."""


@contextmanager
def assert_max_queries(n: int, engine: Engine | None = None) -> Iterator[QueryLog]:
    """Fail when the block runs more than n statements: a guard against N+1 in tests."""
    with count_queries(engine) as log:
        yield log
    if log.count > n:
        listing = "\n".join(f"  {i + 1}. {s[:120]}" for i, s in enumerate(log.statements))
        raise TooManyQueries(f"expected at most {n} statements, ran {log.count}:\n{listing}")
