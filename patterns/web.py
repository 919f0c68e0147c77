"""Request helpers every blueprint shares: the success envelope, a validated query, a JSON body."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
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
