"""Lesson 09: every /api error is problem+json with the seed's envelope; the seed's 404→500 bug."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient

from evidence.error_handling import ErrorPath, error_paths, in_problem_shape, problem_json_share
from patterns.error_handling import PROBLEM_JSON, ApiError
from patterns.seed.error_handling import seed_app
from patterns.structured_logging import capture_logs, parse_lines


@pytest.fixture
def paths(make_app: Callable[..., Flask]) -> list[ErrorPath]:
    return error_paths(make_app(DEMO_ROWS=5))


def test_every_error_path_is_in_the_one_shape(paths: list[ErrorPath]) -> None:
    assert problem_json_share(paths) == 1.0
    assert len(paths) >= 12


@pytest.mark.parametrize("name", ["unknown route", "missing market", "wrong method",
                                  "bad query parameter", "malformed JSON", "JSON nested too deeply",
                                  "not JSON", "invalid fields", "body over the limit", "no token",
                                  "someone else's market", "unexpected exception"])
def test_each_path_answers_its_status(paths: list[ErrorPath], name: str) -> None:
    _, expected, response = next(p for p in paths if p[0] == name)
    assert response.status_code == expected
    assert in_problem_shape(response)
    body = response.get_json()
    assert body["instance"] == response.request.path and body["type"] == "about:blank"


def test_405_names_the_allowed_methods_sorted(paths: list[ErrorPath]) -> None:
    response = next(r for name, _, r in paths if name == "wrong method")
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_validation_errors_name_each_field(paths: list[ErrorPath]) -> None:
    body = next(r for name, _, r in paths if name == "invalid fields").get_json()
    assert set(body["errors"]) == {"name", "volume"}
    assert body["detail"] == "invalid fields: name, volume"


def test_a_500_leaks_nothing_but_is_logged_with_the_request_id(app: Flask) -> None:
    from unittest import mock

    from sqlalchemy.exc import OperationalError

    from patterns.repository import SqlAlchemyMarketRepository

    down = OperationalError("SELECT", {}, Exception("host 10.0.0.5 password=hunter2"))
    with capture_logs() as lines, mock.patch.object(SqlAlchemyMarketRepository, "find_all",
                                                    side_effect=down):
        response = app.test_client().get("/api/markets", headers={"X-Request-ID": "req-500"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    for secret in ("10.0.0.5", "hunter2", "Traceback", "OperationalError", "SELECT"):
        assert secret not in body
    errors = [line for line in parse_lines(lines) if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-500" == response.headers["X-Request-ID"]
    assert "OperationalError" in errors[0]["exception"]


def test_http_exceptions_keep_their_status_and_pages_outside_the_api(make_app) -> None:
    app = make_app(DEMO_ROWS=0)
    app.add_url_rule("/api/conflict", "conflict", lambda: abort(409))
    app.add_url_rule("/page", "page", lambda: abort(409))
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    app.add_url_rule("/api/teapot", "teapot", lambda: (_ for _ in ()).throw(
        ApiError("short and stout", 418, headers={"Retry-After": "5"})))
    client = app.test_client()
    conflict = client.get("/api/conflict")
    assert conflict.status_code == 409 and conflict.mimetype == PROBLEM_JSON
    page = client.get("/page")
    assert page.status_code == 409 and page.mimetype == "text/html"
    boom = client.get("/boom")
    assert boom.status_code == 500 and boom.mimetype == "text/html"
    teapot = client.get("/api/teapot")
    assert teapot.status_code == 418 and teapot.headers["Retry-After"] == "5"
    assert teapot.get_json()["title"] == "I'm a Teapot"


def test_no_error_answer_under_api_is_html(client: FlaskClient) -> None:
    for response in (client.get("/api"), client.get("/api/"), client.delete("/api/health"),
                     client.get("/api/markets/1/x"), client.get("/api/markets/99999999999")):
        assert in_problem_shape(response), response.request.path


# ---- the seed's handlers: the bug the lesson shows ----

@pytest.fixture
def seed_client() -> FlaskClient:
    return seed_app().test_client()


def test_seed_turns_a_routing_404_into_a_500(seed_client: FlaskClient) -> None:
    response = seed_client.get("/api/nope")
    assert response.status_code == 500
    assert response.get_json() == {"success": False, "error": "Internal server error"}


def test_seed_turns_405_and_malformed_json_into_500s(seed_client: FlaskClient) -> None:
    assert seed_client.delete("/api/markets/1").status_code == 500
    malformed = seed_client.post("/api/echo", data="{", content_type="application/json")
    assert malformed.status_code == 500


def test_seed_still_answers_its_own_api_errors(seed_client: FlaskClient) -> None:
    assert seed_client.get("/api/markets/2").status_code == 404
    assert seed_client.get("/api/markets/1").status_code == 200


def test_seed_logs_every_404_as_an_unexpected_error(seed_client: FlaskClient) -> None:
    with capture_logs("seed_errors") as lines:
        seed_client.get("/api/nope")
    (line,) = parse_lines(lines)
    assert line["level"] == "ERROR" and "NotFound" in line["exception"]
