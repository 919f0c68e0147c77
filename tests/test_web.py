"""The web layer's helpers: a chunked body is held to the same size limit as any other."""

from __future__ import annotations

import io

from flask import Flask
from flask.testing import FlaskClient

from evidence.lab import AuthActions

LIMIT = 64 * 1024  # the app's MAX_CONTENT_LENGTH


def post_chunked(client: FlaskClient, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    answer = client.post("/api/markets", input_stream=io.BytesIO(body),
                         headers={**headers, "Content-Type": "application/json",
                                  "Transfer-Encoding": "chunked"})
    return answer.status_code, answer.get_json()


def name_of(size: int) -> bytes:
    """A JSON body of exactly size bytes."""
    return b'{"name": "' + b"x" * (size - 12) + b'"}'


def test_an_oversized_chunked_body_is_413_like_one_with_a_content_length(
        app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == LIMIT
    status, body = post_chunked(client, name_of(2 * 1024 * 1024), auth.headers())
    assert (status, body["title"]) == (413, "Content Too Large")
    framed = client.post("/api/markets", data=name_of(2 * 1024 * 1024), headers=auth.headers(),
                         content_type="application/json")
    assert framed.status_code == 413 and framed.get_json()["detail"] == body["detail"]


def test_the_limit_is_exact_and_nothing_is_written(client: FlaskClient, auth: AuthActions) -> None:
    before = client.get("/api/markets?limit=100").get_json()["meta"]["count"]
    status, _ = post_chunked(client, name_of(LIMIT + 1), auth.headers())
    assert status == 413
    status, body = post_chunked(client, name_of(LIMIT), auth.headers())
    assert status == 422 and body["errors"]["name"], "at the limit the body is read (name too long)"
    assert client.get("/api/markets?limit=100").get_json()["meta"]["count"] == before


def test_a_small_chunked_body_is_read_whole(client: FlaskClient, auth: AuthActions) -> None:
    status, body = post_chunked(client, b'{"name": "Sent in chunks"}', auth.headers())
    assert status == 201 and body["data"]["name"] == "Sent in chunks"
