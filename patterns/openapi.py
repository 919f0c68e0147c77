"""The OpenAPI 3.1 document, generated from the marshmallow schemas (apispec), served by the app."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any
from urllib.parse import quote

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify

from patterns import schemas as s
from patterns.error_handling import PROBLEM_JSON

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
_BEARER = [{"bearerAuth": []}]
_WRITE_ERRORS = (400, 401, 413, 415, 422)


def _operations() -> dict[str, dict[str, Any]]:
    """Every /api route and what it answers (a test checks this list against the app's url_map)."""
    from patterns.service_layer import SearchQuerySchema

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


# ---- Evidence: the whole API fuzzed against this document (tests, lesson 09, bench) ----

@dataclass
class FuzzReport:
    """What a fuzz run sent and how the answers compared with the document."""

    cases: int = 0
    server_errors: int = 0
    mismatches: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, call: Call, status: int, problems: list[str]) -> None:
        self.cases += 1
        self.statuses[status] += 1
        self.server_errors += status >= 500
        self.mismatches += bool(problems)
        if (status >= 500 or problems) and len(self.failures) < 10:
            body = repr(call.body)[:200]
            self.failures.append(f"{call.method} {call.url} -> {status}: {problems} {body}")

    def figures(self) -> dict[str, int]:
        """api.fuzz_cases, api.fuzz_server_errors, api.fuzz_schema_mismatches."""
        return {"api.fuzz_cases": self.cases, "api.fuzz_server_errors": self.server_errors,
                "api.fuzz_schema_mismatches": self.mismatches}


@dataclass(frozen=True)
class Call:
    """One generated request."""

    method: str
    template: str | None  # the document's path, None for a path it does not list
    url: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str | None = None


# (id of the document, schema) -> (the document, its validator): the document is kept alive, so
# its id cannot be reused by another document while the entry exists.
_validators: dict[tuple[int, str], tuple[dict[str, Any], Any]] = {}


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    key = (id(doc), json.dumps(schema, sort_keys=True))
    if key not in _validators:
        # OpenAPI 3.1 schemas are JSON Schema 2020-12; carry the components so $refs resolve.
        validator = Draft202012Validator({**schema, "components": doc["components"]},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[key] = (doc, validator)
    return _validators[key][1]


def response_problems(doc: dict[str, Any], template: str | None, method: str,
                      response: Any) -> list[str]:
    """How a response departs from the document (status, type, headers, body); empty: it matches."""
    status = response.status_code
    if status == 308 and "Location" in response.headers:
        return []  # the router's redirect to the canonical URL ("//" merged): not an API answer
    operation = doc["paths"].get(template or "", {}).get(method.lower())
    if operation is not None:
        spec = operation["responses"].get(str(status))
    elif status in (404, 405):  # the router's answers for paths and methods the document omits
        spec = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    else:
        spec = None
    if spec is None:
        return [f"undocumented status {status}"]
    problems = [f"missing header {name}" for name, h in spec.get("headers", {}).items()
                if h.get("required") and name not in response.headers]
    content = spec.get("content")
    if not content:
        return problems + (["a body where none is documented"] if response.get_data() else [])
    if response.mimetype not in content:
        return problems + [f"content type {response.mimetype}, documented {sorted(content)}"]
    body = json.loads(response.get_data() or b"null")
    errors = _validator(doc, content[response.mimetype]["schema"]).iter_errors(body)
    return problems + [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:200] for e in errors]


def fuzz(app: Flask, requests: int = 1000) -> FuzzReport:
    """Send `requests` generated requests (Hypothesis, deterministic) and check every answer."""
    from hypothesis import HealthCheck, Phase, given, settings

    from evidence.lab import token_headers

    client = app.test_client()
    doc = client.get(OPENAPI_PATH).get_json()  # the served document, exactly what clients see
    user, admin = token_headers(app, "user2@example.com"), token_headers(app, "user1@example.com")
    # Hypothesis favours the first entry of a list: a valid token, so most requests get past auth.
    auths = [user, admin, user, admin, {}, {"Authorization": "Bearer not.a.token"},
             {"Authorization": "Basic dXNlcjpwdw=="}]
    report = FuzzReport()

    # derandomize: the same requests on every run, so a failure in CI fails again on a laptop.
    @settings(max_examples=requests, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(calls(doc, auths))
    def run(call: Call) -> None:
        response = client.open(call.url, method=call.method, query_string=list(call.query),
                               headers=list(call.headers), data=call.body,
                               content_type=call.content_type)
        report.record(call, response.status_code,
                      response_problems(doc, call.template, call.method, response))

    run()
    return report


def calls(doc: dict[str, Any], auths: list[dict[str, str]]) -> Any:
    """A Hypothesis strategy of requests: valid, invalid and hostile, for every documented route."""
    from hypothesis import strategies as st

    auth = st.sampled_from([tuple(a.items()) for a in auths])  # repeat an entry to weight it
    strategies: list[tuple[int, Any]] = []
    for template, item in doc["paths"].items():
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method != "parameters":
                params = shared + op.get("parameters", [])
                strategy = _operation(doc, template, method.upper(), params,
                                      op.get("requestBody"), auth)
                # Bodies are where the bugs hide: writes get three times the share of reads.
                strategies.append((3 if "requestBody" in op else 1, strategy))
    undocumented = [(t.replace("{market_id}", "1"), m) for t, item in doc["paths"].items()
                    for m in ("GET", "POST", "PUT", "DELETE", "PATCH") if m.lower() not in item]
    undocumented += [(p, "GET") for p in ("/api", "/api/", "/api/nope", "/api/markets/1/x",
                                          "/api/admin", "/api/markets/-1", "/api/markets/1.5")]
    strategies.append((1, st.builds(lambda pm, h: Call(pm[1], None, pm[0], headers=h),
                                    st.sampled_from(undocumented), auth)))
    return _weighted(*strategies)


def _operation(doc: dict[str, Any], template: str, method: str, params: list[dict[str, Any]],
               body: dict[str, Any] | None, auth: Any) -> Any:
    from hypothesis import strategies as st

    junk = _junk_text()
    in_path, in_query = [], []
    for p in params:
        valid = _value(doc, p["schema"]).map(str)
        if p["in"] == "path":
            likely = st.integers(1, 30).map(str)  # ids the demo data has: real hits, not only 404s
            in_path.append((p["name"], _weighted((2, likely), (1, valid), (1, junk), (
                1, st.integers(-5, 2**70).map(str)))))
        else:
            in_query.append((p["name"], st.one_of(valid, junk)))
    stray = st.tuples(st.sampled_from(["limit", "page", "id", "x"]), junk)
    bodies = _body(doc, body["content"][JSON]["schema"]) if body else st.just((None, None))

    @st.composite
    def build(draw: Any) -> Call:
        url = template
        for name, values in in_path:
            url = url.replace("{" + name + "}", quote(draw(values), safe=""))
        query = [(name, draw(values)) for name, values in in_query if draw(st.booleans())]
        if draw(st.integers(0, 9)) == 0:  # a parameter nobody documented
            query.append(draw(stray))
        data, ctype = draw(bodies)
        return Call(method, template, url, tuple(query), draw(auth), data, ctype)

    return build()


@cache
def _junk_text() -> Any:
    from hypothesis import strategies as st

    return st.one_of(st.text(max_size=12), st.sampled_from(
        ["", "-1", "0", "1e3", "nan", "NaN", "1.5", "１", " 7", "99999999999999999999", "null"]))


@cache
def _junk_scalar() -> Any:
    from hypothesis import strategies as st

    # Strings that broke this API once (a 500 each): NUL, a lone surrogate, dates past 9999 UTC.
    nasty = st.sampled_from(["a\x00b", "a\ud800b", "", "   ", "9999-12-31T23:59:59-14:00",
                             "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00", "active"])
    return _weighted((3, nasty), (1, st.text(max_size=20)), (1, st.none()), (1, st.booleans()),
                     (1, st.integers()), (1, st.floats()))


@cache
def _junk_json() -> Any:
    from hypothesis import strategies as st

    return st.recursive(_junk_scalar(), lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _body(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """(bytes, content type): valid objects, mass assignment, wrong types, malformed, oversized."""
    from hypothesis import strategies as st

    props = list(_resolve(doc, schema).get("properties", {}))
    valid = _value(doc, schema)
    sneaky = st.dictionaries(st.sampled_from(["id", "creator_id", "volume", "created_at",
                                              "creator", "role"]), _junk_json(), min_size=1)
    objects = _weighted(
        (3, valid),
        (3, st.builds(lambda v, k, x: {**v, k: x}, valid, st.sampled_from(props), _junk_scalar())),
        (1, st.builds(lambda v, extra: {**v, **extra}, valid, sneaky)),  # mass assignment
        (1, st.dictionaries(st.sampled_from(props), _junk_json())),  # every field, any type
        (1, _junk_json()))  # not even an object
    as_json = objects.map(lambda o: (json.dumps(o).encode(), "application/json"))
    raw = st.sampled_from([
        (b"{", "application/json"), (b"", "application/json"), (b"[" * 5000, "application/json"),
        (b'{"name": "\xff"}', "application/json"), (b'{"name": "x"}', "text/plain"),
        (b'{"name": "x"}', None), (b'{"name": "' + b"x" * 70_000 + b'"}', "application/json"),
    ])
    return _weighted((6, as_json), (1, raw))


def _weighted(*choices: tuple[int, Any]) -> Any:
    """one_of with weights (one_of drops repeated strategies, so repeat distinct copies)."""
    from hypothesis import strategies as st

    return st.one_of([strategy.map(_same) for weight, strategy in choices for _ in range(weight)])


def _same(value: Any) -> Any:
    return value


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """Values that satisfy a (simple) JSON Schema: what a well-behaved client would send."""
    from hypothesis import strategies as st

    schema = _resolve(doc, schema)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type", "string")
    if isinstance(kinds, list):
        return st.one_of([_value(doc, {**schema, "type": k}) for k in kinds])
    if kinds == "null":
        return st.none()
    if kinds == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kinds == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kinds == "boolean":
        return st.booleans()
    if kinds == "array":
        return st.lists(_value(doc, schema.get("items", {})), max_size=3)
    if kinds == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: _value(doc, v) for k, v in props.items() if k in required},
            optional={k: _value(doc, v) for k, v in props.items() if k not in required})
    if schema.get("format") == "uuid":
        return st.uuids().map(str)
    if schema.get("format") == "date-time":
        offsets = st.sampled_from([None, UTC, timezone(timedelta(hours=-14)),
                                   timezone(timedelta(hours=14)), timezone(timedelta(hours=5.5))])
        return st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31),
                            timezones=offsets).map(lambda d: d.isoformat())
    return st.text(min_size=schema.get("minLength", 0),
                   max_size=min(schema.get("maxLength", 40), 40))
