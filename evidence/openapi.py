"""Schemathesis fuzzes the whole API in-process against its own OpenAPI document: the one
harness that tests/test_openapi.py, `python -m bench --json` (api.fuzz_*) and lesson 09 use."""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import ignored_auth
from sqlalchemy import select

from evidence.lab import token_headers
from patterns.db import get_db
from patterns.models import Market
from patterns.openapi import OPENAPI_PATH

WRITES = ("POST /api/markets", "PUT /api/markets/{market_id}",
          "DELETE /api/markets/{market_id}", "POST /api/markets/{market_id}/index")
# Schemathesis's own settings, never a schemathesis.toml found on disk; no example database, no
# cache: nothing is written to the working tree (nor to notebooks/, where a lesson runs).
_CONFIG = {"generation": {"database": "none", "deterministic": True,
                          "with-security-parameters": False},
           "cache": {"enabled": False}}
# Hypothesis keeps caches (unicode tables, the constants it found in the source) in ./.hypothesis
# even without a database: the current folder is the checkout or notebooks/. Keep them in /tmp.
HYPOTHESIS_HOME = Path(tempfile.gettempdir()) / "workbook-hypothesis"


@dataclass
class FuzzReport:
    """What the fuzz run sent, what the API answered, and which of Schemathesis's checks failed."""

    cases: int = 0
    server_errors: int = 0
    mismatches: int = 0  # cases where any check failed: an answer the document does not allow
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (check, operation)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # one curl per failure
    auth_enforced: set[str] = field(default_factory=set)  # operations ignored_auth confirmed

    def successes(self, operation: str) -> int:
        """How many answers of one operation ("PUT /api/markets/{market_id}") were 2xx."""
        return sum(n for (op, status), n in self.statuses.items()
                   if op == operation and 200 <= status < 300)

    def summary(self) -> str:
        """The stable part of a run: which check failed on which operation (counts vary)."""
        if not self.failures:
            return "0 failures"
        return "\n".join(f"{check} failed on {op}" for check, op in sorted(self.failures))

    def figures(self) -> dict[str, int]:
        """api.fuzz_cases, api.fuzz_server_errors, api.fuzz_schema_mismatches."""
        return {"api.fuzz_cases": self.cases, "api.fuzz_server_errors": self.server_errors,
                "api.fuzz_schema_mismatches": self.mismatches}


class _Rows:
    """Ids of rows that exist now: generated ids are mapped onto them, so writes reach a market."""

    def __init__(self, app: Flask) -> None:
        with app.app_context(), get_db(app).new_session() as session:
            self.markets = list(session.scalars(select(Market.id).order_by(Market.id)))
        self.tasks: list[str] = []

    def learn(self, case: Case, status: int, body: Any) -> None:
        data: Any = body.get("data") if isinstance(body, dict) else None
        if case.operation.label == "POST /api/markets" and status == 201:
            self.markets.append(data["id"])
        elif case.operation.label == "DELETE /api/markets/{market_id}" and status == 204:
            self.markets.remove(case.path_parameters["market_id"])
        elif status == 202 and isinstance(data, dict):
            self.tasks.append(data["task_id"])

    def existing(self, case: Case) -> Case:
        # Only a path that is meant to be valid; one generated id in eight is kept (a 404 path).
        params = case.path_parameters
        if not params or (case.meta and case.meta.components.get(ParameterLocation.PATH)
                          and case.meta.components[ParameterLocation.PATH].mode
                          is GenerationMode.NEGATIVE):
            return case
        for name, pool in (("market_id", self.markets), ("task_id", self.tasks)):
            generated = params.get(name)
            number = generated if type(generated) is int else sum(map(ord, str(generated)))
            if name in params and pool and number % 8:
                params[name] = pool[number % len(pool)]
        return case


def fuzz(app: Flask, cases: int = 1000, operations: str | None = None) -> FuzzReport:
    """Send `cases` Schemathesis cases (half valid, half not), all its checks on every answer."""
    set_hypothesis_home_dir(HYPOTHESIS_HOME)
    config = schemathesis.Config.from_dict(_CONFIG)
    schema: BaseSchema = schemathesis.openapi.from_wsgi(OPENAPI_PATH, app, config=config)
    if operations is not None:  # a regex of paths; default: every operation of the document
        schema = schema.include(path_regex=operations)
    admin = token_headers(app, "user1@example.com")["Authorization"]

    @schema.auth(refresh_interval=None)  # so its ignored_auth check knows what to leave out
    class Bearer:
        def get(self, case: Case, ctx: Any) -> str:
            return admin

        def set(self, case: Case, data: str, ctx: Any) -> None:
            case.headers["Authorization"] = data

    rows = _Rows(app)  # generated ids mapped onto rows that exist: writes reach a market
    schema.hook("map_case")(lambda ctx, case: rows.existing(case))
    return _send(schema, rows, cases)


def _send(schema: BaseSchema, rows: _Rows, cases: int) -> FuzzReport:
    report = FuzzReport()
    halves = ((GenerationMode.POSITIVE, cases // 2), (GenerationMode.NEGATIVE, cases))
    for round_ in range(4):  # Hypothesis may stop short of max_examples: top up, new seed
        for mode, target in halves:
            if report.cases < target:
                with suppress(Unsatisfiable):  # nothing invalid to generate for these operations
                    _run(schema.as_strategy(generation_mode=mode), report, rows, target, round_)
    return report


def _run(strategy: Any, report: FuzzReport, rows: _Rows, target: int, round_: int) -> None:
    @seed(round_)
    @settings(max_examples=target - report.cases, derandomize=round_ == 0, database=None,
              deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case: Case) -> None:
        if report.cases >= target:
            return
        response = case.call()
        report.cases += 1
        label = case.operation.label
        report.statuses[label, response.status_code] += 1
        report.server_errors += response.status_code >= 500
        # ignored_auth re-sends each 2xx without the token and with a bad one; like its CLI,
        # one confirmation per operation and run is enough (it halves the requests sent).
        confirmed = label in report.auth_enforced
        try:
            case.validate_response(response, excluded_checks=[ignored_auth] if confirmed else [])
            if 200 <= response.status_code < 300:
                report.auth_enforced.add(label)
        except FailureGroup as group:
            checks = set()
            for failure in group.exceptions:
                key = (failure.checks[0] if failure.checks else failure.title, label)
                report.failures[key] += 1
                checks.add(key[0])
                report.examples.setdefault(key, case.as_curl_command())
            report.mismatches += bool(checks - {"not_a_server_error"})
        body = response.json() if response.content and "json" in (
            response.headers.get("content-type") or [""])[0] else None
        rows.learn(case, response.status_code, body)

    one()
