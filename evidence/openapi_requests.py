"""The fuzzer's requests: Hypothesis strategies of valid, invalid and hostile calls of an API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

JSON = "application/json"
Body = tuple[bytes | None, str | None]  # the raw body and its content type


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


def calls(doc: dict[str, Any], auths: list[dict[str, str]]) -> SearchStrategy[Call]:
    """A Hypothesis strategy of requests: valid, invalid and hostile, for every documented route."""
    auth = st.sampled_from([tuple(a.items()) for a in auths])  # repeat an entry to weight it
    strategies: list[tuple[int, SearchStrategy[Call]]] = []
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
               body: dict[str, Any] | None,
               auth: SearchStrategy[tuple[tuple[str, str], ...]]) -> SearchStrategy[Call]:
    junk = _JUNK_TEXT
    in_path: list[tuple[str, SearchStrategy[str]]] = []
    in_query: list[tuple[str, SearchStrategy[str]]] = []
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
    def build(draw: st.DrawFn) -> Call:
        url = template
        for name, values in in_path:
            url = url.replace("{" + name + "}", quote(draw(values), safe=""))
        query = [(name, draw(values)) for name, values in in_query if draw(st.booleans())]
        if draw(st.integers(0, 9)) == 0:  # a parameter nobody documented
            query.append(draw(stray))
        data, ctype = draw(bodies)
        return Call(method, template, url, tuple(query), draw(auth), data, ctype)

    return build()


def _body(doc: dict[str, Any], schema: dict[str, Any]) -> SearchStrategy[Body]:
    """(bytes, content type): valid objects, mass assignment, wrong types, malformed, oversized."""
    props = list(_resolve(doc, schema).get("properties", {}))
    valid = _value(doc, schema)
    sneaky = st.dictionaries(st.sampled_from(["id", "creator_id", "volume", "created_at",
                                              "creator", "role"]), _JUNK_JSON, min_size=1)
    objects = _weighted(
        (3, valid),
        (3, st.builds(lambda v, k, x: {**v, k: x}, valid, st.sampled_from(props), _JUNK_SCALAR)),
        (1, st.builds(lambda v, extra: {**v, **extra}, valid, sneaky)),  # mass assignment
        (1, st.dictionaries(st.sampled_from(props), _JUNK_JSON)),  # every field, any type
        (1, _JUNK_JSON))  # not even an object
    as_json = objects.map(lambda o: (json.dumps(o).encode(), "application/json"))
    raw = st.sampled_from([
        (b"{", "application/json"), (b"", "application/json"), (b"[" * 5000, "application/json"),
        (b'{"name": "\xff"}', "application/json"), (b'{"name": "x"}', "text/plain"),
        (b'{"name": "x"}', None), (b'{"name": "' + b"x" * 70_000 + b'"}', "application/json"),
    ])
    return _weighted((6, as_json), (1, raw))


def _weighted(*choices: tuple[int, SearchStrategy[Any]]) -> SearchStrategy[Any]:
    """one_of with weights (one_of drops repeated strategies, so repeat distinct copies)."""
    return st.one_of([strategy.map(_same) for weight, strategy in choices for _ in range(weight)])


def _same(value: Any) -> Any:
    return value


# Junk that a careless or hostile client sends where a value belongs.
_JUNK_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "-1", "0", "1e3", "nan", "NaN", "1.5", "１", " 7", "99999999999999999999", "null"]))
# Strings that broke this API once (a 500 each): NUL, a lone surrogate, dates past 9999 UTC.
_NASTY = st.sampled_from(["a\x00b", "a\ud800b", "", "   ", "9999-12-31T23:59:59-14:00",
                          "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00", "active"])
_JUNK_SCALAR = _weighted((3, _NASTY), (1, st.text(max_size=20)), (1, st.none()),
                         (1, st.booleans()), (1, st.integers()), (1, st.floats()))
_JUNK_JSON = st.recursive(_JUNK_SCALAR, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _value(doc: dict[str, Any], schema: dict[str, Any]) -> SearchStrategy[Any]:
    """Values that satisfy a (simple) JSON Schema: what a well-behaved client would send."""
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
        # Hypothesis's overloads pair bounds with naive-only or aware-only zones, not a mix.
        return st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31),
                            timezones=offsets,  # type: ignore[arg-type]
                            ).map(lambda d: d.isoformat())
    return st.text(min_size=schema.get("minLength", 0),
                   max_size=min(schema.get("maxLength", 40), 40))
