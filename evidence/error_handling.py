"""Lesson 09's evidence: every error path the lesson exercises, answered in one shape, and the
exercise's check: the learner's handlers on an app that has none."""

from __future__ import annotations

import logging
from collections.abc import Callable
from unittest import mock

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from evidence.grading import call, expect, passed
from evidence.lab import lesson_app, token_headers
from patterns.error_handling import PROBLEM_JSON
from patterns.repository import SqlAlchemyMarketRepository

PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance", "success", "error")
ErrorPath = tuple[str, int, TestResponse]  # (error path, expected status, response)
Case = tuple[str, int, Callable[[], TestResponse]]
# What the driver's message says when the database goes away: a host and a user, never for a client.
SECRET = "connection to server at 10.0.0.5 failed: password authentication failed for user app"
# Which exception each path raises inside the app: the handler the learner needs for it.
RAISES = {"unknown route": "HTTPException", "wrong method": "HTTPException",
          "body over the limit": "HTTPException", "invalid fields": "ValidationError",
          "unexpected exception": "Exception"}  # every other path raises an ApiError


def in_problem_shape(response: Response) -> bool:
    """problem+json with every RFC 9457 member, and the seed's success/error envelope."""
    body = response.get_json(silent=True, force=True)
    return (response.mimetype == PROBLEM_JSON and isinstance(body, dict)
            and all(k in body for k in PROBLEM_MEMBERS) and body["success"] is False
            and body["status"] == response.status_code and body["error"] == body["detail"])


def _database_down(client: FlaskClient) -> TestResponse:
    # The database goes away mid-request: the driver's message names a host and a user.
    down = OperationalError("SELECT markets", {}, Exception(SECRET))
    with mock.patch.object(SqlAlchemyMarketRepository, "find_all", side_effect=down):
        return client.get("/api/markets")


def error_cases(app: Flask) -> list[Case]:
    """(error path, expected status, the request that takes it) for each error of the lesson."""
    client = app.test_client()
    user = token_headers(app, "user2@example.com")
    json_type = "application/json"
    return [
        ("unknown route", 404, lambda: client.get("/api/nope")),
        ("missing market", 404, lambda: client.get("/api/markets/999999")),
        ("wrong method", 405, lambda: client.patch("/api/markets")),
        ("bad query parameter", 400, lambda: client.get("/api/markets?limit=0")),
        ("malformed JSON", 400, lambda: client.post("/api/markets", data="{", headers=user,
                                                     content_type=json_type)),
        ("JSON nested too deeply", 400, lambda: client.post(
            "/api/markets", data="[" * 10_000, headers=user, content_type=json_type)),
        ("not JSON", 415, lambda: client.post("/api/markets", data="name=x", headers=user)),
        ("invalid fields", 422, lambda: client.post("/api/markets", headers=user,
                                                    json={"name": "", "volume": 1e9})),
        ("body over the limit", 413, lambda: client.post(
            "/api/markets", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1), headers=user,
            content_type=json_type)),
        ("no token", 401, lambda: client.post("/api/markets", json={"name": "x"})),
        ("someone else's market", 403, lambda: client.delete("/api/markets/3", headers=user)),
        ("unexpected exception", 500, lambda: _database_down(client)),
    ]


def error_paths(app: Flask) -> list[ErrorPath]:
    """(error path, expected status, response) for each error the lesson exercises."""
    return [(name, expected, send()) for name, expected, send in error_cases(app)]


def problem_json_share(results: list[ErrorPath]) -> float:
    """errors.problem_json_share: the share of error answers with the right status, in one shape."""
    good = [r for _, expected, r in results if r.status_code == expected and in_problem_shape(r)]
    return len(good) / len(results)


# ---- the exercise: register_error_handlers(app) on an app without any ----------------------


def _escaped(name: str, exc: Exception) -> str:
    kind = type(exc).__name__
    if kind in ("ApiError", "ValidationError", "OperationalError"):
        handler = {"ApiError": "ApiError", "ValidationError": "marshmallow's ValidationError",
                   "OperationalError": "Exception (the catch-all)"}[kind]
        return (f"{name}: its {kind} reached the client unhandled: register a handler for "
                f"{handler}")
    if "did not return a valid response" in str(exc):
        return (f"{name}: your handler returned None, which Flask cannot send: return "
                "problem(...) from every handler")
    return (f"{name}: your handler raised {kind}: {str(exc).splitlines()[0][:120]} — "
            "return problem(...) from every handler")


def _why(name: str, expected: int, response: TestResponse) -> str:
    """What is wrong with one error path's answer, in the learner's terms."""
    got, kind = response.status_code, RAISES.get(name, "ApiError")
    body = response.get_json(silent=True, force=True)
    if got != expected:
        if got == 500 and kind == "HTTPException":
            return (f"Flask's {expected} for {name} reached your handler for Exception and "
                    "became a 500: register a handler for HTTPException too (Flask picks the "
                    "most specific class) and answer with error.code")
        if got == 500:
            return (f"the {kind} of {name} fell through to the catch-all: register a handler "
                    f"for {kind} that answers {expected}")
        return f"{name} answered {got}, not {expected}"
    if response.mimetype != PROBLEM_JSON:
        if isinstance(body, dict) and "type" in body and "title" in body:
            return (f"{name}'s problem+json body went out as {response.mimetype}: "
                    "error.get_headers() carries the HTML page's Content-Type; leave it out")
        if response.mimetype == "text/html":
            return (f"{name} answered Flask's own HTML page: answer HTTPException with a "
                    "handler that returns problem(...), not the exception itself")
        keys = sorted(body) if isinstance(body, dict) else []
        return (f"{name} answered plain {response.mimetype} {keys}, without type and title: "
                "build every answer with problem(), which is application/problem+json")
    if not isinstance(body, dict):
        return f"{name} answered problem+json that is not a JSON object"
    missing = [k for k in PROBLEM_MEMBERS if k not in body]
    if missing:
        return f"{name}'s problem+json lacks {', '.join(missing)}: build it with problem()"
    return (f"{name}'s body says status {body['status']!r}, success {body['success']!r}, error "
            f"{body['error']!r} for detail {body['detail']!r}: build it with problem()")


def _bare_app() -> Flask:
    # The lesson's API with every error handler taken away (its JSON parser stays: a body
    # nested too deeply is a ValueError, so a 400, whoever handles it).
    app = lesson_app(rows=5)
    app.error_handler_spec.clear()
    return app


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check_error_handlers(register_error_handlers: Callable[[Flask], object]) -> None:
    """Judge register_error_handlers(app): every error path in the one shape, the 500 silent."""
    app = _bare_app()
    call("register_error_handlers(app)", register_error_handlers, app)
    results: list[ErrorPath] = []
    problems: list[tuple[str, str]] = []  # (path, why) for each answer not in the one shape
    logged, root = _Errors(), logging.getLogger()
    for name, expected, send in error_cases(app):
        watch = name == "unexpected exception"  # is the 500 logged? (records reach the root)
        if watch:
            root.addHandler(logged)
        try:
            response = send()
        except Exception as exc:  # TESTING propagates what no handler answered
            problems.append((f"{name} (no answer)", _escaped(name, exc)))
            continue
        finally:
            if watch:
                root.removeHandler(logged)
        results.append((name, expected, response))
        if response.status_code != expected or not in_problem_shape(response):
            got = response.status_code
            label = (f"{name} ({got}, expected {expected})" if got != expected
                     else f"{name} ({got} as {response.mimetype})")
            problems.append((label, _why(name, expected, response)))
    total = len(results) + sum(label.endswith("(no answer)") for label, _ in problems)
    share = (total - len(problems)) / total
    listed = ", ".join(label for label, _ in problems[:4]) + (
        f" and {len(problems) - 4} more" if len(problems) > 4 else "")
    expect(not problems, f"all {total} error paths answered with their status in the one "
           "problem+json shape (problem_json_share 1.00)",
           f"yours reach {share:.2f}, not: {listed}. First: {problems[0][1]}" if problems else "")
    answers = {name: r for name, _, r in results}
    for name, header, why in (("wrong method", "Allow", "which methods the URL takes"),
                              ("no token", "WWW-Authenticate", "how to authenticate")):
        expect(header in answers[name].headers, f"the {answers[name].status_code} of {name} to "
               f"keep its {header} header ({why})",
               "yours has none: pass the error's headers to problem(headers=...)")
    text = answers["unexpected exception"].get_data(as_text=True)
    leaked = [w for w in ("10.0.0.5", "password", "OperationalError", "SELECT") if w in text]
    expect(not leaked, "a 500 that tells the client nothing about the failure",
           f"yours says {', '.join(map(repr, leaked))}: {text[:160]!r} — answer a fixed "
           "sentence and put the exception in the log")
    expect(bool(logged.records), "the unexpected error logged at ERROR with its traceback "
           "(app.logger.exception), so support can find it by the request id",
           "your handler for Exception logged nothing")
    passed(f"register_error_handlers: {total} of {total} error paths in the one problem+json "
           "shape, headers kept, the 500 logged and silent")
