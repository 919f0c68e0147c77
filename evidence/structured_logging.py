"""Lesson 12's exercise check: a JsonFormatter subclass adding service and user_agent fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask

from evidence.grading import WrongAnswer, call, expect, passed
from patterns import structured_logging as sl

# Quotes and a backslash, as real User-Agent strings carry: only json.dumps escapes them right.
USER_AGENT = 'Mozilla/5.0 (X11) "Workbook" \\ lesson-12'
# A message a hand-built line would break: a quote and a newline.
MESSAGE = 'market "7" closed\nby the nightly job'
CREATED = datetime(2026, 1, 1, 12, 30, tzinfo=UTC).timestamp()


def shown(line: dict[str, Any], hide: tuple[str, ...] = ("timestamp", "duration_ms")) -> str:
    """A parsed log line as sorted JSON, without the fields that differ on every run."""
    return json.dumps({k: v for k, v in line.items() if k not in hide}, sort_keys=True)


def _record() -> logging.LogRecord:
    record = logging.LogRecord("patterns.jobs", logging.WARNING, __file__, 1, MESSAGE, None, None)
    record.created, record.msecs = CREATED, 0.0
    record.market_id = 7  # an extra= field: the base formatter writes it too
    return record


@contextmanager
def _nowhere() -> Iterator[None]:
    yield


@contextmanager
def _job(app: Flask) -> Iterator[None]:
    # A Celery task or a CLI command: an app context with a bound request id, but no request.
    with app.app_context(), sl.bind_request_id("job-7"):
        yield


@contextmanager
def _request(app: Flask) -> Iterator[None]:
    headers = {"User-Agent": USER_AGENT, "X-Request-ID": "req-12"}
    with app.test_request_context("/api/markets/7", headers=headers):
        app.preprocess_request()  # the middleware sets g.request_id, as in a real request
        yield


def _line(formatter: Any, where: str) -> dict[str, Any]:
    """Format the record with the learner's formatter; its line parsed, or a WrongAnswer."""
    try:
        text = call(f"AppFormatter().format (on a line logged {where})", formatter.format,
                    _record())
    except WrongAnswer as exc:
        if "Working outside of" not in exc.reason:
            raise
        first = exc.reason.splitlines()[0].split(" raised ", 1)[-1]
        raise WrongAnswer(
            f"expected a line logged {where}; your format raised {first} Ask "
            "has_request_context() before reading request or flask.g: a job has an app "
            "context but no request, so has_app_context() is not enough") from None
    expect(isinstance(text, str), f"format() to return the line as a str ({where})",
           f"it returned {type(text).__name__}")
    expect("\n" not in text, f"one line per record ({where})",
           f"your line spans {text.count(chr(10)) + 1} lines: no indent=, and let json.dumps "
           "escape the message's newline")
    try:
        line = json.loads(text)
    except ValueError as exc:
        raise WrongAnswer(
            f"expected one JSON object per line ({where}); yours does not parse ({exc}): "
            f"{text[:100]!r}… build a dict and json.dumps it, so quotes in a header or a message "
            "are escaped") from None
    expect(isinstance(line, dict), f"a JSON object ({where})", f"got {text[:80]!r}")
    return line


def check_app_formatter(formatter_class: Callable[[], logging.Formatter], app: Flask) -> None:
    """Judge AppFormatter: service everywhere, user_agent in requests only, base fields intact."""
    formatter = call("AppFormatter()", formatter_class)
    places: list[tuple[str, Callable[[], AbstractContextManager[None]]]] = [
        ("outside any app context", _nowhere),
        ("in a job (an app context, no request)", lambda: _job(app)),
        ("inside a request", lambda: _request(app)),
    ]
    for where, context in places:
        with context():
            base = json.loads(sl.JsonFormatter().format(_record()))
            line = _line(formatter, where)
        changed = {k: line.get(k, "<missing>") for k, v in base.items() if line.get(k) != v}
        expect(not changed, f"every field of JsonFormatter's line unchanged ({where}): "
               f"{', '.join(sorted(base))}",
               "yours differs in " + "; ".join(
                   f"{k}: {base[k]!r} became {v!r}" for k, v in sorted(changed.items())))
        expect(line.get("service") == "markets", f'"service": "markets" on every line ({where})',
               f"got service {line.get('service', '<missing>')!r}")
        inside = where == "inside a request"
        if inside:
            expect(line.get("user_agent") == USER_AGENT,
                   f"user_agent = the request's User-Agent header, {USER_AGENT!r}",
                   f"got {line.get('user_agent', '<missing>')!r}")
        else:
            expect("user_agent" not in line, f"no user_agent field {where}: there is no request",
                   f"got user_agent {line['user_agent']!r}" if "user_agent" in line else "")
    passed("AppFormatter: service on every line, the User-Agent (escaped) on request lines only, "
           "JsonFormatter's fields intact")
