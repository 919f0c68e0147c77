"""The OpenAPI 3.1 document, generated from the marshmallow schemas (apispec), served by the app."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Response, current_app, jsonify

from patterns import schemas as s
from patterns.error_handling import PROBLEM_JSON
from patterns.service_layer import SearchQuerySchema

JSON = "application/json"
OPENAPI_PATH = "/api/openapi.json"
_PHRASES = {200: "OK", 201: "Created", 202: "Accepted: queued; poll Location",
            204: "No Content",
            400: "Malformed request: a bad query parameter, or a body that is not JSON",
            401: "Missing or invalid bearer token (with WWW-Authenticate: Bearer)",
            403: "Authenticated, but not allowed", 404: "No such market",
            413: "Body larger than the limit", 415: "Body is not application/json",
            422: "Body fails validation; `errors` names each field", 500: "Unexpected failure"}


def _problems(*codes: int) -> dict[str, Any]:
    # Every error answers the same problem+json shape; 500 may come from anywhere.
    return {str(c): {"description": _PHRASES[c], "content": {PROBLEM_JSON: {"schema": "Problem"}}}
            for c in (*codes, 500)}


def _ok(code: int, schema: Any, **extra: Any) -> dict[str, Any]:
    content = {JSON: {"schema": schema}}
    return {str(code): {"description": _PHRASES[code], "content": content, **extra}}


_MARKET_ID = {"in": "path", "name": "market_id", "required": True,
              "schema": {"type": "integer", "minimum": 0, "maximum": s.MAX_ID}}
_BODY = {"required": True, "content": {JSON: {"schema": "MarketWrite"}}}
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_WRITE_ERRORS = (400, 401, 413, 415, 422)


def _operations() -> dict[str, dict[str, Any]]:
    """Every /api route and what it answers (a test checks this list against the app's url_map)."""
    return {
        "/api/health": {"get": {"summary": "Liveness", "responses": _ok(200, "HealthEnvelope")}},
        OPENAPI_PATH: {"get": {"summary": "This document",
                               "responses": _ok(200, {"type": "object"})}},
        "/api/markets": {
            "get": {"summary": "One page of markets",
                    "parameters": [{"in": "query", "schema": s.ListQuerySchema}],
                    "responses": {**_ok(200, "MarketListEnvelope"), **_problems(400)}},
            "post": {"summary": "Create a market (you become its creator)", "security": _BEARER,
                     "requestBody": _BODY,
                     "responses": {**_ok(201, "MarketEnvelope", headers={"Location": {
                         "required": True, "schema": {"type": "string"}}}),
                         **_problems(*_WRITE_ERRORS)}},
        },
        "/api/markets/search": {
            "get": {"summary": "Markets ranked by similarity to q, best first",
                    "parameters": [{"in": "query", "schema": SearchQuerySchema}],
                    "responses": {**_ok(200, "SearchEnvelope"), **_problems(400)}},
        },
        "/api/markets/{market_id}": {
            "parameters": [_MARKET_ID],
            "get": {"summary": "One market", "responses": {**_ok(200, "MarketEnvelope"),
                                                           **_problems(404)}},
            "put": {"summary": "Replace a market's writable fields (creator or admin)",
                    "security": _BEARER, "requestBody": _BODY,
                    "responses": {**_ok(200, "MarketEnvelope"),
                                  **_problems(*_WRITE_ERRORS, 403, 404)}},
            "delete": {"summary": "Delete a market (creator or admin)", "security": _BEARER,
                       "responses": {"204": {"description": _PHRASES[204]},
                                     **_problems(401, 403, 404)}},
        },
        "/api/markets/{market_id}/index": {
            "parameters": [_MARKET_ID],
            "post": {"summary": "Queue (re)indexing of one market for search", "security": _BEARER,
                     "responses": {**_ok(202, "TaskEnvelope", headers={"Location": {
                         "required": True, "schema": {"type": "string"}}}),
                         **_problems(401, 404)}},
        },
        "/api/tasks/{task_id}": {
            "get": {"summary": "How a queued task is doing",
                    "parameters": [{"in": "path", "name": "task_id", "required": True,
                                    "schema": {"type": "string", "format": "uuid"}}],
                    "responses": {**_ok(200, "TaskEnvelope"), **_problems(404)}},
        },
        "/api/admin/users": {
            "get": {"summary": "Users with their emails (admins only)", "security": _BEARER,
                    "parameters": [{"in": "query", "schema": s.PageQuerySchema}],
                    "responses": {**_ok(200, "UserListEnvelope"), **_problems(400, 401, 403)}},
        },
        "/api/cache/stats": {
            "get": {"summary": "This process's cache hits, misses and hit ratio (admins only)",
                    "security": _BEARER,
                    "responses": {**_ok(200, "CacheStatsEnvelope"), **_problems(401, 403)}},
        },
    }


def build_spec() -> dict[str, Any]:
    """The OpenAPI document as a dict, built from the schemas the routes validate with."""
    spec = APISpec(title="Markets API", version="1.0.0", openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "The workbook's prediction-markets API. Errors are "
                                        "application/problem+json (RFC 9457)."})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer",
                                                   "bearerFormat": "JWT"})
    for name, schema in (("Problem", s.ProblemSchema), ("MarketWrite", s.MarketWriteSchema),
                         ("MarketEnvelope", s.MarketEnvelopeSchema),
                         ("MarketListEnvelope", s.MarketListEnvelopeSchema),
                         ("UserListEnvelope", s.UserListEnvelopeSchema),
                         ("HealthEnvelope", s.HealthEnvelopeSchema),
                         ("SearchEnvelope", s.SearchEnvelopeSchema),
                         ("CacheStatsEnvelope", s.CacheStatsEnvelopeSchema),
                         ("TaskEnvelope", s.TaskEnvelopeSchema)):
        spec.components.schema(name, schema=schema)
    for path, operations in _operations().items():
        shared = operations.pop("parameters", None)  # path-level: every method takes them
        spec.path(path=path, operations=operations, parameters=shared)
    return spec.to_dict()


bp = Blueprint("openapi", __name__)


@bp.get(OPENAPI_PATH)
def openapi_json() -> Response:
    """GET /api/openapi.json — built once per app, then served from memory."""
    state = current_app.extensions.setdefault("openapi", {})
    if "document" not in state:
        state["document"] = build_spec()
    return jsonify(state["document"])

