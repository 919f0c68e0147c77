"""Centralized errors: every /api error is problem+json (RFC 9457) plus the seed's envelope."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

PROBLEM_JSON = "application/problem+json"

# RFC 9457 §4.2.1: with type "about:blank" the title SHOULD be the status's phrase. The phrases
# of RFC 9110 §15 (and RFC 6585 for 428/429/431/511, RFC 2324 for 418), held here rather than read
# from http.HTTPStatus, whose 413 and 422 changed wording between Python 3.11 and 3.13: a stored
# lesson output must not depend on the Python that runs it.
STATUS_PHRASES = {
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
    411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
    414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    417: "Expectation Failed", 418: "I'm a Teapot", 421: "Misdirected Request",
    422: "Unprocessable Content", 426: "Upgrade Required", 428: "Precondition Required",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
    511: "Network Authentication Required",
}


def status_phrase(status: int) -> str:
    """The RFC phrase of a status code; a code without one gets its class ("Client Error")."""
    if status in STATUS_PHRASES:
        return STATUS_PHRASES[status]
    return "Client Error" if 400 <= status < 500 else "Server Error"


class ApiError(Exception):
    """An error the API answers on purpose: a status and a readable detail (what varies)."""

    def __init__(self, detail: str, status: int = 400, *,
                 errors: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.errors = errors
        self.headers = headers or {}


def problem(status: int, detail: str, *, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem+json response that also carries the seed's {"success": false, "error": ...}."""
    body: dict[str, Any] = {
        "type": "about:blank",  # RFC 9457: the status code says it all, no extra semantics
        "title": status_phrase(status),  # what varies goes in detail
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
    return problem(error.status, error.detail, errors=error.errors, headers=error.headers)


def handle_validation_error(error: ValidationError) -> Response:
    fields = ", ".join(sorted(str(k) for k in error.normalized_messages()))
    return problem(422, f"invalid fields: {fields}",
                   errors=error.normalized_messages())


def handle_http_exception(error: HTTPException) -> Response | HTTPException:
    # The seed's catch-all turned these into 500s; they are answers, keep their status
    # and their headers (405 carries Allow, 401 WWW-Authenticate).
    if not _wants_problem():
        return error
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    if "Allow" in headers:  # werkzeug builds it from a set: sort it so answers are stable
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    return problem(error.code or 500, error.description or error.name, headers=headers)


def handle_database_unavailable(error: DBAPIError) -> Response | HTTPException:
    # A database that went away (or is locked past its timeout) is the server's transient
    # trouble, not a bug: 503 and when to retry; anything else a driver raises stays a 500.
    if not error.connection_invalidated and not _unreachable(error):
        return handle_unexpected(error)
    current_app.logger.warning("database unavailable: %s", type(error.orig).__name__)
    if not _wants_problem():
        return handle_unexpected(error)
    return problem(503, "The database is not answering; try again shortly.",
                   headers={"Retry-After": "5"})


def _unreachable(error: DBAPIError) -> bool:
    text = str(error.orig).lower()
    return any(sign in text for sign in (
        "connection refused", "could not connect", "server closed the connection",
        "terminating connection", "connection is closed", "the database system is",
        "database is locked", "unable to open database file"))


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
    app.register_error_handler(DBAPIError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)

