"""Which database errors deserve another attempt, decided once, where SQLAlchemy raises them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError

# SQLSTATEs a retry can get past (PostgreSQL, appendix A): class 08 is "connection exception";
# then serialization_failure, deadlock_detected, lock_not_available, too_many_connections and
# the server shutting down or starting. A missing table (42P01) or a syntax error is no race.
_SQLSTATE_CLASSES = ("08",)
_SQLSTATES = frozenset({"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03"})
# SQLite's primary result codes: SQLITE_BUSY (5, "database is locked") and SQLITE_LOCKED (6).
# "no such table" is SQLITE_ERROR (1), an OperationalError too, and permanent.
_SQLITE_BUSY = frozenset({5, 6})
# For a driver that gives neither code (libpq failing to connect has no SQLSTATE).
_MESSAGES = ("database is locked", "connection refused", "connection failed",
             "server closed the connection", "connection is lost", "could not connect")


class TransientDatabaseError(OperationalError):
    """An OperationalError another attempt may not meet: a lost connection, race or lock."""


def is_transient(error: BaseException, *, disconnect: bool = False) -> bool:
    """Whether a driver's error is worth retrying (disconnect: SQLAlchemy's own verdict)."""
    if disconnect or isinstance(error, ConnectionError | TimeoutError):
        return True
    sqlstate = getattr(error, "sqlstate", None)  # psycopg 3
    if sqlstate:
        return sqlstate.startswith(_SQLSTATE_CLASSES) or sqlstate in _SQLSTATES
    code = getattr(error, "sqlite_errorcode", None)  # sqlite3, Python 3.11+
    if code is not None:
        return code & 0xFF in _SQLITE_BUSY  # the low byte is the primary code
    return any(message in str(error).lower() for message in _MESSAGES)


def _reclassify(context: ExceptionContext) -> BaseException | None:
    # Runs for every error a statement (or a connect) raises on the engine; returning an
    # exception replaces the one SQLAlchemy would raise.
    raised: Any = (getattr(context, "chained_exception", None) or context.sqlalchemy_exception
                   or context.original_exception)
    if context.is_pre_ping or type(raised) is not OperationalError or raised.orig is None:
        return None
    if not is_transient(raised.orig, disconnect=context.is_disconnect):
        return None
    return TransientDatabaseError(
        raised.statement, raised.params, raised.orig, hide_parameters=raised.hide_parameters,
        connection_invalidated=raised.connection_invalidated, ismulti=raised.ismulti)


def listen_for_transient_errors(engine: Engine) -> None:
    """Raise TransientDatabaseError, not a plain OperationalError, when a retry can help."""
    if not event.contains(engine, "handle_error", _reclassify):
        event.listen(engine, "handle_error", _reclassify, retval=True)
