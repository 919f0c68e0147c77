"""Lesson 09: every /api error is problem+json with the seed's envelope; the seed's 404→500 bug."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, abort, current_app, jsonify, request
from flask.testing import FlaskClient
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from evidence.error_handling import (
    ErrorPath,
    check_error_handlers,
    error_paths,
    in_problem_shape,
    problem_json_share,
)
from evidence.grading import WrongAnswer
from evidence.lab import AuthActions
from patterns.error_handling import PROBLEM_JSON, ApiError, init_app, problem, status_phrase
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


# ---- the exercise: register_error_handlers(app), judged by check_error_handlers ----

FIXED = "The server failed to answer this request; it has been logged."


def api_error(error: ApiError) -> Response:
    return problem(error.status, error.detail, errors=error.errors, headers=error.headers)


def invalid_fields(error: ValidationError) -> Response:
    fields = ", ".join(sorted(error.normalized_messages()))
    return problem(422, f"invalid fields: {fields}", errors=error.normalized_messages())


def http_error(error: HTTPException) -> Response:
    headers = {k: v for k, v in error.get_headers() if k != "Content-Type"}
    return problem(error.code or 500, error.description or error.name, headers=headers)


def unexpected(error: Exception) -> Response:
    current_app.logger.exception("unexpected error: %s", type(error).__name__)
    return problem(500, FIXED)


REFERENCE = {ApiError: api_error, ValidationError: invalid_fields, HTTPException: http_error,
             Exception: unexpected}


def registering(handlers: dict[type[Exception], Callable[..., Any]]) -> Callable[[Flask], None]:
    """A register_error_handlers that registers these handlers, one per exception class."""
    def register_error_handlers(app: Flask) -> None:
        for cls, handler in handlers.items():
            app.register_error_handler(cls, handler)
    return register_error_handlers


def one_catch_all(app: Flask) -> None:
    """Correct, written differently: one handler that dispatches, bodies built by hand."""
    def answer(error: Exception) -> tuple[Response, int, dict[str, str]]:
        headers: dict[str, str] = {}
        if isinstance(error, ApiError):
            status, detail, headers = error.status, error.detail, error.headers
        elif isinstance(error, ValidationError):
            status, detail = 422, "invalid: " + ", ".join(sorted(error.normalized_messages()))
        elif isinstance(error, HTTPException):
            status, detail = error.code or 500, error.description or ""
            headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        else:
            app.logger.error("unexpected error", exc_info=error)
            status, detail = 500, "Internal error; it has been logged."
        body = {"type": "about:blank", "title": str(status), "status": status, "detail": detail,
                "instance": request.path, "success": False, "error": detail}
        return jsonify(body), status, headers | {"Content-Type": PROBLEM_JSON}
    app.register_error_handler(Exception, answer)


def notebook_exercise() -> dict[str, str]:
    path = Path(__file__).parents[1] / "notebooks" / "09_error_handling.ipynb"
    cells = json.loads(path.read_text())["cells"]
    cell = next(c for c in cells if "solution" in c["metadata"].get("tags", []))
    return {"answer": "".join(cell["source"]), "stub": cell["metadata"]["workbook"]["stub"]}


def defined(source: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return namespace[name]


def test_the_handlers_check_passes_correct_answers_written_differently(
        capsys: pytest.CaptureFixture[str]) -> None:
    notebook = defined(notebook_exercise()["answer"], "register_error_handlers")
    for answer in (notebook, registering(REFERENCE), one_catch_all, init_app):
        check_error_handlers(answer)
        assert capsys.readouterr().out.startswith(
            "✓ register_error_handlers: 12 of 12 error paths in the one problem+json shape")


def test_the_handlers_check_rejects_the_stub_and_a_body_that_registers_nothing() -> None:
    with pytest.raises(WrongAnswer, match=r"register_error_handlers\(app\) is not written yet"):
        check_error_handlers(defined(notebook_exercise()["stub"], "register_error_handlers"))
    with pytest.raises(WrongAnswer, match=r"yours reach 0.00, not: unknown route \(404 as "
                                          r"text/html\), .* and \d+ more. First: unknown route "
                                          r"answered Flask's own HTML page"):
        check_error_handlers(lambda app: None)


def without(*classes: type[Exception], **replaced: Callable[..., Any]) -> Callable[[Flask], None]:
    """The reference with some handlers left out, or replaced (by the exception class's name)."""
    chosen = {cls: replaced.get(cls.__name__, h) for cls, h in REFERENCE.items()
              if cls not in classes}
    return registering(chosen)


def seed_json(error: Exception) -> tuple[Response, int]:
    status = getattr(error, "status", None) or getattr(error, "code", None) or 500
    return jsonify({"success": False, "error": str(error)}), status


def leaky(error: Exception) -> Response:
    current_app.logger.exception("unexpected error")
    return problem(500, f"{type(error).__name__}: {error}")


def silent(error: Exception) -> Response:
    return problem(500, FIXED)


@pytest.mark.parametrize("answer, message", [
    (without(HTTPException),  # the seed's mistake: errorhandler(Exception) catches HTTPException
     r"expected all 12 error paths answered with their status in the one problem\+json shape "
     r"\(problem_json_share 1.00\); yours reach 0.75, not: unknown route \(500, expected 404\), "
     r"wrong method \(500, expected 405\), body over the limit \(500, expected 413\). First: "
     r"Flask's 404 for unknown route reached your handler for Exception and became a 500: "
     r"register a handler for HTTPException too"),
    (without(HTTPException=lambda error: error),
     r"not: unknown route \(404 as text/html\), wrong method \(405 as text/html\), body over the "
     r"limit \(413 as text/html\). First: unknown route answered Flask's own HTML page: answer "
     r"HTTPException with a handler that returns problem\(...\), not the exception itself"),
    (registering(dict.fromkeys(REFERENCE, seed_json)),
     r"yours reach 0.00, .* First: unknown route answered plain application/json "
     r"\['error', 'success'\], without type and title: build every answer with problem\(\)"),
    (without(ValidationError),
     r"yours reach 0.92, not: invalid fields \(500, expected 422\). First: the ValidationError "
     r"of invalid fields fell through to the catch-all: register a handler for ValidationError "
     r"that answers 422"),
    (without(ValidationError=lambda error: problem(400, "Validation failed")),
     r"not: invalid fields \(400, expected 422\). First: invalid fields answered 400, not 422"),
    (without(Exception),
     r"not: unexpected exception \(no answer\). First: unexpected exception: its "
     r"OperationalError reached the client unhandled: register a handler for Exception"),
    (without(ApiError, Exception),
     r"not: missing market \(no answer\), .* First: missing market: its ApiError reached the "
     r"client unhandled: register a handler for ApiError"),
    (without(HTTPException=lambda error: problem(error.code, error.description,
                                                 headers=dict(error.get_headers()))),
     r"First: unknown route's problem\+json body went out as text/html: error.get_headers\(\) "
     r"carries the HTML page's Content-Type; leave it out"),
    (without(HTTPException=lambda error: None),
     r"not: unknown route \(no answer\), .* First: unknown route: your handler returned None, "
     r"which Flask cannot send: return problem\(...\) from every handler"),
    (without(ApiError=lambda error: problem(error.status, error.detail)),
     r"expected the 401 of no token to keep its WWW-Authenticate header \(how to authenticate\); "
     r"yours has none: pass the error's headers to problem\(headers=...\)"),
    (without(Exception=leaky),
     r"expected a 500 that tells the client nothing about the failure; yours says '10.0.0.5', "
     r"'password', 'OperationalError', 'SELECT'"),
    (without(Exception=silent),
     r"expected the unexpected error logged at ERROR .*; your handler for Exception logged "
     r"nothing"),
])
def test_the_handlers_check_explains_each_wrong_answer(answer: Callable[[Flask], None],
                                                       message: str) -> None:
    with pytest.raises(WrongAnswer, match=message):
        check_error_handlers(answer)


@pytest.mark.parametrize("status, phrase", [(413, "Content Too Large"),
                                            (422, "Unprocessable Content"), (404, "Not Found"),
                                            (503, "Service Unavailable")])
def test_titles_are_the_rfc_9110_phrases_whatever_the_python(status: int, phrase: str) -> None:
    # http.HTTPStatus says "Request Entity Too Large" on 3.11 and "Content Too Large" on 3.13;
    # stored lesson outputs must not depend on which Python runs them.
    assert status_phrase(status) == phrase


def test_a_validation_error_has_the_status_phrase_as_title_and_the_fields_in_detail(
        client: FlaskClient, auth: AuthActions) -> None:
    answer = client.post("/api/markets", json={}, headers=auth.headers())
    body = answer.get_json()
    assert (answer.status_code, body["title"]) == (422, "Unprocessable Content")
    assert body["detail"] == "invalid fields: name"
