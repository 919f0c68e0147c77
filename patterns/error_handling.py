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

