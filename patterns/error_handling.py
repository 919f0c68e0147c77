"""Centralized errors: every /api error is problem+json (RFC 9457) plus the seed's envelope."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """An error the API answers on purpose: a status, a title and a readable detail."""

    def __init__(self, detail: str, status: int = 400, *, title: str | None = None,
                 errors: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.title = title
        self.errors = errors
        self.headers = headers or {}


def problem(status: int, detail: str, *, title: str | None = None,
            errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem+json response that also carries the seed's {"success": false, "error": ...}."""
    title = title or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": "about:blank",  # RFC 9457: the status code says it all, no extra semantics
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "success": False,
        "error": detail,
    }
    if errors:
        body["errors"] = errors
    # The request id travels in the X-Request-ID header (structured_logging), not in the body.
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _wants_problem() -> bool:
    # Only the API answers in JSON; anything else keeps Flask's own pages.
    return request.path == "/api" or request.path.startswith("/api/")


def handle_api_error(error: ApiError) -> Response:
    return problem(error.status, error.detail, title=error.title, errors=error.errors,
                   headers=error.headers)


def handle_validation_error(error: ValidationError) -> Response:
    fields = ", ".join(sorted(str(k) for k in error.normalized_messages()))
    return problem(422, f"invalid fields: {fields}", title="Validation failed",
                   errors=error.normalized_messages())


def handle_http_exception(error: HTTPException) -> Response | HTTPException:
    # The seed's catch-all turned these into 500s; they are answers, keep their status
    # and their headers (405 carries Allow, 401 WWW-Authenticate).
    if not _wants_problem():
        return error
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if "Allow" in headers:  # werkzeug builds it from a set: sort it so answers are stable
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    return problem(error.code or 500, error.description or error.name, title=error.name,
                   headers=headers)


def handle_unexpected(error: Exception) -> Response | HTTPException:
    if isinstance(error, HTTPException):  # Flask routes these here only if registered above
        return handle_http_exception(error)
    # The traceback goes to the log, whose lines carry the request id (structured_logging).
    current_app.logger.exception("unexpected error: %s", type(error).__name__)
    if not _wants_problem():
        return InternalServerError()
    # Nothing about the failure leaks to the client: no message, no traceback.
    return problem(500, "The server failed to answer this request; it has been logged.")


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply is malformed JSON (400), not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:  # "[[[[...": request.get_json turns only ValueError into a 400
            raise ValueError("JSON nested too deeply") from None


def init_app(app: Flask) -> None:
    """Register the handlers, most specific first."""
    app.json = SafeJSONProvider(app)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)


# ---- Evidence: every error path of lesson 09 in one shape (bench/error_handling.py too) ----

PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance", "success", "error")


def in_problem_shape(response: Any) -> bool:
    """problem+json with every RFC 9457 member, and the seed's success/error envelope."""
    body = response.get_json(silent=True, force=True)
    return (response.mimetype == PROBLEM_JSON and isinstance(body, dict)
            and all(k in body for k in PROBLEM_MEMBERS) and body["success"] is False
            and body["status"] == response.status_code and body["error"] == body["detail"])


def error_paths(app: Flask) -> list[tuple[str, int, Any]]:
    """(error path, expected status, response) for each error the lesson exercises."""
    from unittest import mock

    from sqlalchemy.exc import OperationalError

    from evidence.lab import token_headers
    from patterns.repository import SqlAlchemyMarketRepository

    client = app.test_client()
    user = token_headers(app, "user2@example.com")
    json_type = "application/json"
    cases = [
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
    ]
    results = [(name, expected, send()) for name, expected, send in cases]
    # The database goes away mid-request: the driver's message names a host and a user.
    down = OperationalError("SELECT markets", {}, Exception(
        "connection to server at 10.0.0.5 failed: password authentication failed for user app"))
    with mock.patch.object(SqlAlchemyMarketRepository, "find_all", side_effect=down):
        results.append(("unexpected exception", 500, client.get("/api/markets")))
    return results


def problem_json_share(results: list[tuple[str, int, Any]]) -> float:
    """errors.problem_json_share: the share of error answers with the right status, in one shape."""
    good = [r for _, expected, r in results if r.status_code == expected and in_problem_shape(r)]
    return len(good) / len(results)
