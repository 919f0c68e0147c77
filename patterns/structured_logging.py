"""Structured logging: one JSON object per line; a request id carried through requests and jobs."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import structlog
from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
PACKAGE_LOGGER = "patterns"  # every module logs under patterns.*; one handler here serves them all
ACCESS_LOGGER = "patterns.request"
HANDLER_NAME = "patterns.json"  # marks the one handler configure_logging installs
# What an upstream proxy or client may hand us: ids, UUIDs, trace ids. Nothing that could
# smuggle a newline into a header or a quote into a log line, and nothing unbounded.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
# A job continuing a request's work has no request context: its id lives here instead.
_bound_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_bound_task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
# The attributes every LogRecord has; anything else came in through `extra=` and is a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime"}


def new_request_id() -> str:
    """A fresh random request id (32 hex characters)."""
    return uuid.uuid4().hex


def is_well_formed(request_id: str) -> bool:
    """Whether an incoming X-Request-ID may be trusted as our id: short, plain characters."""
    return _WELL_FORMED.fullmatch(request_id) is not None


def current_request_id() -> str | None:
    """The id of the request or job being handled, or None; pass it on as a task header."""
    bound = _bound_request_id.get()
    if bound is not None:
        return bound
    if has_app_context():  # flask.g exists only inside an app context: the seed's bug
        return g.get("request_id")
    return None


@contextmanager
def bind_request_id(request_id: str | None) -> Iterator[str]:
    """Log lines inside the block carry request_id (e.g. a Celery task given it as a header)."""
    rid = request_id if request_id and is_well_formed(request_id) else new_request_id()
    token = _bound_request_id.set(rid)
    try:
        yield rid
    finally:
        _bound_request_id.reset(token)


@contextmanager
def bind_task_id(task_id: str | None) -> Iterator[None]:
    """Log lines inside the block carry task_id: which run of a background job wrote them."""
    token = _bound_task_id.set(task_id)
    try:
        yield
    finally:
        _bound_task_id.reset(token)


def iso_utc(created: float) -> str:
    """A LogRecord time as ISO-8601 in UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def context_fields() -> dict[str, Any]:
    """The request's (or job's) fields for a log line; empty outside both, never an error."""
    fields: dict[str, Any] = {}
    rid = current_request_id()
    if rid is not None:
        fields["request_id"] = rid
    task_id = _bound_task_id.get()
    if task_id is not None:
        fields["task_id"] = task_id
    if has_request_context():
        fields["method"] = request.method
        fields["path"] = request.path
        user = g.get("current_user")
        if user is not None:  # set by require_auth: only after authentication succeeded
            fields["user_id"] = user.id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, then the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(context_fields())
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS})
        if record.exc_info:
            # The traceback belongs in the log (one escaped string), never in a response.
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _start_request() -> None:
    state = _state()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if is_well_formed(incoming) else state["new_id"]()
    g.request_started = state["clock"]()


def _finish_request(response: Response) -> Response:
    state = _state()
    started = g.get("request_started")
    duration_ms = round((state["clock"]() - started) * 1000, 3) if started is not None else None
    response.headers[REQUEST_ID_HEADER] = g.get("request_id") or ""
    logging.getLogger(ACCESS_LOGGER).info(
        "request finished", extra={"status": response.status_code, "duration_ms": duration_ms})
    return response


def _state() -> dict[str, Any]:
    return current_app.extensions["structured_logging"]


def configure_logging(app: Flask, stream: Any = None) -> logging.Handler:
    """Give the patterns.* loggers one JSON handler (to stderr, or nowhere when testing)."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # Replace, never add: the logger is process-wide and create_app runs many times in tests.
    for old in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
        logger.removeHandler(old)
    if app.config.get("LOG_JSON", not app.testing):
        handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:  # tests and notebooks capture what they want (capture_logs); nothing leaks to stderr
        handler = logging.NullHandler()
    handler.set_name(HANDLER_NAME)
    logger.addHandler(handler)
    # Flask's plain-text handler on app.logger would print every line a second time.
    app.logger.removeHandler(default_handler)
    return handler


def init_app(app: Flask, *, clock: Callable[[], float] = time.perf_counter,
             new_id: Callable[[], str] = new_request_id) -> None:
    """Request ids in and out, one access line per request, JSON lines for the package's loggers."""
    app.extensions["structured_logging"] = {"clock": clock, "new_id": new_id}
    # First in line: every other before_request hook (and any error it raises) has the id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    configure_logging(app)


@contextmanager
def capture_logs(logger: str = PACKAGE_LOGGER, formatter: logging.Formatter | None = None,
                 level: int = logging.INFO) -> Iterator[list[str]]:
    """Collect the formatted lines logged under logger while the block runs."""
    lines: list[str] = []
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter or JsonFormatter())
    handler.setLevel(level)
    target = logging.getLogger(logger)
    previous = target.level
    if target.getEffectiveLevel() > level:
        target.setLevel(level)
    target.addHandler(handler)
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)
        lines.extend(buffer.getvalue().splitlines())


def parse_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Each log line parsed back into the dict it was written from."""
    return [json.loads(line) for line in lines]


def _shared_processors() -> list[Any]:
    """What every line gets, whether it came from structlog or from plain logging."""
    def request_fields(_logger: Any, _name: str,
                       event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        # structlog says "info"; our lines say "INFO": one spelling for the log aggregator.
        return {**event, "level": event["level"].upper(), **context_fields()}

    return [structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, request_fields]


def structlog_formatter() -> logging.Formatter:
    """The production choice: structlog renders logging's records with the same fields."""
    return structlog.stdlib.ProcessorFormatter(
        # Run for records from plain logging (Flask, SQLAlchemy, our modules) before rendering.
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(default=str),
        ],
    )


def configure_structlog() -> None:
    """structlog.get_logger().info("event", key=value) forwarded to logging's handlers."""
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, *_shared_processors(),
                    # Hand the event to logging; structlog_formatter renders it there.
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
