"""Lesson 09's evidence: every error path the lesson exercises, answered in one shape."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

from flask import Flask
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from evidence.lab import token_headers
from patterns.error_handling import PROBLEM_JSON
from patterns.repository import SqlAlchemyMarketRepository

PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance", "success", "error")
ErrorPath = tuple[str, int, TestResponse]  # (error path, expected status, response)


def in_problem_shape(response: Response) -> bool:
    """problem+json with every RFC 9457 member, and the seed's success/error envelope."""
    body = response.get_json(silent=True, force=True)
    return (response.mimetype == PROBLEM_JSON and isinstance(body, dict)
            and all(k in body for k in PROBLEM_MEMBERS) and body["success"] is False
            and body["status"] == response.status_code and body["error"] == body["detail"])


def error_paths(app: Flask) -> list[ErrorPath]:
    """(error path, expected status, response) for each error the lesson exercises."""
    client = app.test_client()
    user = token_headers(app, "user2@example.com")
    json_type = "application/json"
    cases: list[tuple[str, int, Callable[[], TestResponse]]] = [
        ("unknown route", 404, lambda: client.get("/api/nope")),
        ("missing market", 404, lambda: client.get("/api/markets/999999")),
        ("wrong method", 405, lambda: client.patch("/api/markets")),
        ("bad query parameter", 400, lambda: client.get("/api/markets?limit=0")),
        ("malformed JSON", 400, lambda: client.post("/api/markets", data="{", headers=user,
                                                     content_type=json_type)),
        ("JSON nested too deeply", 400, lambda: client.post(
            "/api/markets", data="[" * 10_000, headers=user, content_type=json_type)),
        ("not JSON", 415, lambda: client.post("/api/markets", data="name=x", headers=user)),
        ("invalid fields", 422, lambda: client.post("/api/markets", headers=user,
                                                    json={"name": "", "volume": 1e9})),
        ("body over the limit", 413, lambda: client.post(
            "/api/markets", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1), headers=user,
            content_type=json_type)),
        ("no token", 401, lambda: client.post("/api/markets", json={"name": "x"})),
        ("someone else's market", 403, lambda: client.delete("/api/markets/3", headers=user)),
    ]
    results = [(name, expected, send()) for name, expected, send in cases]
    # The database goes away mid-request: the driver's message names a host and a user.
    down = OperationalError("SELECT markets", {}, Exception(
        "connection to server at 10.0.0.5 failed: password authentication failed for user app"))
    with mock.patch.object(SqlAlchemyMarketRepository, "find_all", side_effect=down):
        results.append(("unexpected exception", 500, client.get("/api/markets")))
    return results


def problem_json_share(results: list[ErrorPath]) -> float:
    """errors.problem_json_share: the share of error answers with the right status, in one shape."""
    good = [r for _, expected, r in results if r.status_code == expected and in_problem_shape(r)]
    return len(good) / len(results)
