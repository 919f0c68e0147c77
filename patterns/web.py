"""Request helpers every blueprint shares: the success envelope, a validated query, a JSON body."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import Schema, ValidationError

from patterns.error_handling import ApiError


def envelope(data: Any, status: int = 200, **extra: Any) -> tuple[Response, int]:
    """The seed's success envelope: {"success": true, "data": ...}."""
    return jsonify({"success": True, "data": data, **extra}), status


def query_args(schema: Schema) -> dict[str, Any]:
    """The validated query string, or a 400 naming each bad parameter."""
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as err:
        names = ", ".join(sorted(err.normalized_messages()))
        raise ApiError(f"invalid query parameters: {names}", 400,
                       errors=err.normalized_messages()) from None


def json_body(schema: Schema) -> dict[str, Any]:
    """The validated JSON body: 415 if it is not JSON, 400 if malformed, 422 if invalid."""
    if not request.is_json:
        raise ApiError("send the body as application/json", 415)
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("the body is not valid JSON", 400)
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object", 422)
    return schema.load(data)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ChunkedBodyLimit:
    """WSGI middleware: a chunked body (no Content-Length) over the limit is a 413 like any other.

    Werkzeug caps such a stream at MAX_CONTENT_LENGTH by cutting it short without an error, so
    the view sees truncated JSON (a 400). Buffering up to one byte past the limit and stating the
    length lets Flask refuse it the way it refuses a Content-Length that is too large.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and chunked:  # RFC 9112 §6.3: chunked overrides any Content-Length
            body = _read_up_to(environ["wsgi.input"], limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            # The body is de-chunked and has a length now: say so, as if it had come that way.
            environ["CONTENT_LENGTH"] = str(len(body))  # limit + 1 when too large: a 413
            environ.pop("HTTP_TRANSFER_ENCODING")
            environ.pop("wsgi.input_terminated", None)
        return self.wsgi_app(environ, start_response)


def _read_up_to(stream: Any, size: int) -> bytes:
    # A raw stream answers read(n) with what one chunk holds: read until EOF or size.
    out = bytearray()
    while len(out) < size:
        data = stream.read(size - len(out))
        if not data:
            break
        out.extend(data)
    return bytes(out)
