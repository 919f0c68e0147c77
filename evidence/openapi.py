"""The whole API fuzzed against its OpenAPI document (tests, lesson 09, bench/openapi.py)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from evidence.lab import token_headers
from evidence.openapi_requests import Call, calls
from patterns.error_handling import PROBLEM_JSON
from patterns.openapi import OPENAPI_PATH


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


# (id of the document, schema) -> (the document, its validator): the document is kept alive, so
# its id cannot be reused by another document while the entry exists.
_validators: dict[tuple[int, str], tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    key = (id(doc), json.dumps(schema, sort_keys=True))
    if key not in _validators:
        # OpenAPI 3.1 schemas are JSON Schema 2020-12; carry the components so $refs resolve.
        validator = Draft202012Validator({**schema, "components": doc["components"]},
                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        _validators[key] = (doc, validator)
    return _validators[key][1]


def response_problems(doc: dict[str, Any], template: str | None, method: str,
                      response: TestResponse) -> list[str]:
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
