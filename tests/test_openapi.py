"""The hardened API: schemas, the OpenAPI document, and Schemathesis fuzzing the whole of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from hypothesis.configuration import storage_directory
from jsonschema import Draft202012Validator

from evidence.lab import AuthActions, lesson_app
from evidence.openapi import HYPOTHESIS_HOME, WRITES, FuzzReport, fuzz
from patterns.db import get_db
from patterns.openapi import OPENAPI_PATH, build_spec

FUZZ_CASES = 1000


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_spec()


@pytest.fixture(scope="module")
def fuzz_report() -> Iterator[FuzzReport]:
    """One fuzz run for the four tests below (make_app is per test: it would run it four times)."""
    app = lesson_app(rows=40)
    yield fuzz(app, FUZZ_CASES)
    get_db(app).close()


def test_the_document_is_served(client: FlaskClient, doc: dict) -> None:
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_json() == doc
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "Markets API"


def test_every_api_route_is_documented_and_nothing_else(app: Flask, doc: dict) -> None:
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in doc["paths"].items()
                  for method in item if method != "parameters"}
    assert routes - documented == set(), "undocumented routes: add them to patterns/openapi.py"
    assert documented - routes == set(), "documented routes the app does not have"


def test_component_schemas_are_valid_json_schema(doc: dict) -> None:
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name


def test_writes_reject_unknown_fields_and_list_paging_is_bounded(doc: dict) -> None:
    write = doc["components"]["schemas"]["MarketWrite"]
    assert write["additionalProperties"] is False and write["required"] == ["name"]
    assert not {"id", "creator_id", "volume"} & set(write["properties"])
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/markets"]["get"]["parameters"]}
    assert params["limit"] == {"type": "integer", "default": 20, "minimum": 1, "maximum": 100}
    assert params["offset"]["minimum"] == 0
    assert params["status"]["enum"] == ["active", "closed", "resolved"]


def test_protected_operations_declare_bearer_auth(doc: dict) -> None:
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method in (("/api/markets", "post"), ("/api/markets/{market_id}", "put"),
                         ("/api/markets/{market_id}", "delete"), ("/api/admin/users", "get")):
        operation = doc["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}] and "401" in operation["responses"]


# ---- the fuzz run (Schemathesis, all its checks): part of `make test`, deterministic ----

def test_fuzz_sends_at_least_a_thousand_cases(fuzz_report: FuzzReport) -> None:
    assert fuzz_report.cases >= 1000


def test_fuzz_finds_no_failure(fuzz_report: FuzzReport) -> None:
    curls = "\n".join(f"{k}: {v}" for k, v in fuzz_report.examples.items())
    assert fuzz_report.summary() == "0 failures", curls
    assert fuzz_report.server_errors == 0 and fuzz_report.mismatches == 0


@pytest.mark.parametrize("operation", WRITES)
def test_fuzz_reaches_every_write_past_the_front_door(fuzz_report: FuzzReport,
                                                      operation: str) -> None:
    # Ids drawn from rows that exist and a token through Schemathesis's auth: writes succeed
    # (with naive ids, PUT got 0 successes in 166 calls).
    assert fuzz_report.successes(operation) >= 10, fuzz_report.statuses


def test_fuzz_reaches_error_answers_too(fuzz_report: FuzzReport) -> None:
    # No 401 among the cases: the token is never a generated parameter, ignored_auth probes it.
    seen = {status for _, status in fuzz_report.statuses}
    assert {400, 404, 422} <= seen, seen


# ---- the fuzzer itself: it does see a planted bug ----

def test_fuzz_reports_a_planted_server_error(app: Flask) -> None:
    from patterns.repository import SqlAlchemyMarketRepository

    real = SqlAlchemyMarketRepository.find_all

    def flaky(self, *, filters=None, limit: int = 20, offset: int = 0):
        if limit > 50:
            raise RuntimeError("planted")
        return real(self, filters=filters, limit=limit, offset=offset)

    with mock.patch.object(SqlAlchemyMarketRepository, "find_all", flaky):
        report = fuzz(app, 60, operations="^/api/markets$")
    assert report.server_errors > 0
    assert ("not_a_server_error", "GET /api/markets") in report.failures


def test_fuzz_reports_a_planted_schema_mismatch(app: Flask) -> None:
    def leaky(data, status: int = 200, **extra):
        return jsonify({"success": True, "data": data, "debug": "internal", **extra}), status

    with mock.patch("patterns.rest_api.envelope", leaky):
        report = fuzz(app, 60, operations="^/api/markets$")
    assert report.mismatches > 0
    assert ("response_schema_conformance", "GET /api/markets") in report.failures


def test_fuzz_reports_a_planted_unenforced_token(app: Flask) -> None:
    # The token reaches the app through schema.auth(), so ignored_auth can take it away again.
    from patterns.admin import cache_stats

    app.view_functions["cache.cache_stats"] = cache_stats.__wrapped__  # require_role removed
    report = fuzz(app, 20, operations="^/api/cache/stats$")
    assert ("ignored_auth", "GET /api/cache/stats") in report.failures


def test_fuzz_keeps_hypothesis_files_out_of_the_tree(fuzz_report: FuzzReport) -> None:
    # No example database, Schemathesis's cache off, and Hypothesis's own caches (unicode
    # tables, constants) in a temporary folder: nothing lands in the checkout or notebooks/.
    home = storage_directory("constants", intent_to_write=False).home_directory.resolve()
    root = Path(__file__).resolve().parents[1]
    assert home == HYPOTHESIS_HOME.resolve() and root not in home.parents


@pytest.mark.parametrize("name, accepted", [
    ("x", True), (" Bitcoin ", True), ("\ufeff", True), (" ", False), ("\u00a0", False),
    ("\u3000\t", False), ("\x1c", False), ("a\x00", False),
])
def test_a_blank_or_nul_name_is_refused_exactly_as_the_document_says(
        doc: dict, client: FlaskClient, auth: AuthActions, name: str, accepted: bool) -> None:
    # Schemathesis found both: "\u00a0" (a no-break space) and "\x00" were schema-valid names,
    # yet refused (blank, and NUL): the document now says so with a pattern.
    schema = {**doc["components"]["schemas"]["MarketWrite"], "components": doc["components"]}
    assert Draft202012Validator(schema).is_valid({"name": name}) is accepted
    answer = client.post("/api/markets", json={"name": name}, headers=auth.headers())
    assert answer.status_code == (201 if accepted else 422), answer.get_json()


@pytest.mark.parametrize("q, status", [
    ("bitcoin", 200), (" x ", 200), ("\f", 400), ("\u00a0\u3000", 400)])
def test_a_blank_search_is_refused_exactly_as_the_document_says(
        doc: dict, client: FlaskClient, q: str, status: int) -> None:
    # Schemathesis found it: q="\f" was schema-valid (minLength 1) yet refused as blank.
    param = doc["paths"]["/api/markets/search"]["get"]["parameters"][0]
    assert Draft202012Validator(param["schema"]).is_valid(q) is (status == 200)
    assert client.get("/api/markets/search", query_string={"q": q}).status_code == status


def _keys(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def test_constraints_are_standard_keywords_a_validator_reads(doc: dict) -> None:
    # x-minimum and friends are read by no validator: a client trusting the document would send
    # what the API refuses (a 422 for a schema-valid request).
    assert not [k for k in _keys(doc["components"]["schemas"]) if k.startswith("x-")]


@pytest.mark.parametrize("closes_at, accepted", [
    ("0491-09-16T07:33:56.0Z", True), ("1969-07-20T20:17:00Z", True),
    ("9999-12-30T23:00:00+01:00", True), ("0001-01-02T00:30:00-01:00", True),
    ("0001-01-01T00:30:00+01:00", False), ("9999-12-31T23:00:00-14:00", False),
])
def test_the_api_accepts_exactly_the_dates_the_document_allows(
        doc: dict, client: FlaskClient, auth: AuthActions, closes_at: str,
        accepted: bool) -> None:
    schema = {**doc["components"]["schemas"]["MarketWrite"], "components": doc["components"]}
    body = {"name": "Dated", "closes_at": closes_at}
    valid = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert valid.is_valid(body) is accepted
    answer = client.post("/api/markets", json=body, headers=auth.headers())
    assert answer.status_code == (201 if accepted else 422), answer.get_json()
