"""The markets blueprint: status codes, validation, and bad input that changes nothing."""

from __future__ import annotations

from unittest import mock

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from evidence.lab import AuthActions
from evidence.rest_api import status_code_checks
from patterns.db import get_db
from patterns.models import Market
from patterns.seed.rest_api import seed_app
from patterns.service_layer import MarketService


def market_rows(app: Flask) -> int:
    with get_db(app).new_session() as session:
        return session.scalar(select(func.count()).select_from(Market))


def test_list_defaults_to_20_in_id_order(client: FlaskClient) -> None:
    body = client.get("/api/markets").get_json()
    assert body["success"] is True
    assert [m["id"] for m in body["data"]] == list(range(1, 21))
    assert body["meta"] == {"limit": 20, "offset": 0, "count": 20}


def test_list_filters_by_status_and_pages(client: FlaskClient) -> None:
    active = client.get("/api/markets?status=active&limit=100").get_json()["data"]
    assert active and all(m["status"] == "active" for m in active)
    page = client.get("/api/markets?status=active&limit=2&offset=1").get_json()["data"]
    assert [m["id"] for m in page] == [m["id"] for m in active[1:3]]


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=10000000", "limit=abc",
                                   "offset=-1", "offset=x", "status=bogus", "stauts=active"])
def test_bad_query_parameters_are_400_naming_the_parameter(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/markets?{query}")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert query.split("=")[0] in response.get_json()["detail"]


def test_get_one_and_missing(client: FlaskClient) -> None:
    market = client.get("/api/markets/3").get_json()["data"]
    assert market["id"] == 3 and market["creator"] == {"id": 3, "name": market["creator"]["name"]}
    missing = client.get("/api/markets/999999")
    assert missing.status_code == 404 and missing.get_json()["success"] is False


def test_create_answers_201_with_location_and_creator_from_token(client, auth) -> None:
    response = client.post("/api/markets", json={"name": "Rain in Paris?", "description": "d"},
                           headers=auth.headers("user2@example.com"))
    assert response.status_code == 201
    market = response.get_json()["data"]
    assert response.headers["Location"] == f"/api/markets/{market['id']}"
    assert market["creator"]["id"] == 2 and market["status"] == "active" and market["volume"] == 0
    assert client.get(response.headers["Location"]).get_json()["data"] == market


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201},
                                  {"name": "x", "id": 5}, {"name": "x", "creator_id": 1},
                                  {"name": "x", "volume": 10}, {"name": "x", "status": "open"},
                                  {"name": "x", "closes_at": "tomorrow"}, {"name": 5}, [1]])
def test_invalid_bodies_are_422_and_write_nothing(app, client, auth, body) -> None:
    before = market_rows(app)
    response = client.post("/api/markets", json=body, headers=auth.admin())
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]
    assert market_rows(app) == before


def test_malformed_json_wrong_type_and_oversize_bodies(app, client, auth) -> None:
    before = market_rows(app)
    headers = auth.admin()
    assert client.post("/api/markets", data="{x", content_type="application/json",
                       headers=headers).status_code == 400
    assert client.post("/api/markets", data="name=x", headers=headers).status_code == 415
    huge = '{"name": "' + "x" * (app.config["MAX_CONTENT_LENGTH"] + 1) + '"}'
    assert client.post("/api/markets", data=huge, content_type="application/json",
                       headers=headers).status_code == 413
    assert market_rows(app) == before


def test_update_replaces_writable_fields(client, auth) -> None:
    response = client.put("/api/markets/2", json={"name": "Renamed", "status": "closed"},
                          headers=auth.headers("user2@example.com"))
    assert response.status_code == 200
    market = response.get_json()["data"]
    assert (market["name"], market["status"], market["description"]) == ("Renamed", "closed", "")


def test_update_and_delete_of_missing_market_are_404(client, auth) -> None:
    missing = client.put("/api/markets/999999", json={"name": "x"}, headers=auth.admin())
    assert missing.status_code == 404
    assert client.delete("/api/markets/999999", headers=auth.admin()).status_code == 404


def test_delete_is_204_with_no_body_and_no_content_type(app, client, auth) -> None:
    response = client.delete("/api/markets/2", headers=auth.headers("user2@example.com"))
    assert response.status_code == 204
    assert response.get_data() == b"" and "Content-Type" not in response.headers
    assert client.get("/api/markets/2").status_code == 404
    assert market_rows(app) == 19


def test_someone_elses_market_is_403_and_unchanged(client, auth) -> None:
    intruder = auth.headers("user3@example.com")
    assert client.put("/api/markets/2", json={"name": "mine"}, headers=intruder).status_code == 403
    assert client.delete("/api/markets/2", headers=intruder).status_code == 403
    assert client.get("/api/markets/2").get_json()["data"]["name"] != "mine"
    assert client.delete("/api/markets/2", headers=auth.admin()).status_code == 204


def test_writes_need_a_token(client) -> None:
    response = client.post("/api/markets", json={"name": "x"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_method_is_405_with_sorted_allow(client) -> None:
    response = client.patch("/api/markets")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_status_code_contract_holds_entirely(client, auth) -> None:
    checks = status_code_checks(client, auth.admin())
    assert len(checks) >= 20
    assert [name for name, ok in checks.items() if not ok] == []


def test_the_seeds_blueprint_shows_the_pitfalls_the_lesson_claims() -> None:
    seed = seed_app(rows=30)
    client = seed.test_client()
    try:
        deleted = client.delete("/api/markets/3")
        assert deleted.status_code == 204 and deleted.get_data() == b""  # the JSON was dropped
        assert len(client.get("/api/markets?limit=10000000").get_json()["data"]) == 29  # unbounded
        assert len(client.get("/api/markets?limit=abc").get_json()["data"]) == 20  # silent default
        created = client.post("/api/markets", json={"name": "x", "volume": 1e9, "id": 999})
        assert "Location" not in created.headers and created.get_json()["data"]["id"] == 999
        assert client.put("/api/markets/9999", json={"name": "g"}).status_code == 200
        assert client.post("/api/markets", json={"nmae": "typo"}).status_code == 500
    finally:
        get_db(seed).close()


@pytest.mark.parametrize("method", ["put", "delete"])
def test_a_market_deleted_by_a_concurrent_request_is_404(client: FlaskClient, auth,
                                                         method: str) -> None:
    # Found by the ownership check, gone by the write: the service says so, the answer is 404.
    gone = {"put": ("update", None), "delete": ("delete", False)}[method]
    with mock.patch.object(MarketService, gone[0], return_value=gone[1]):
        response = getattr(client, method)("/api/markets/2", json={"name": "x"},
                                           headers=auth.headers())
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_a_deleted_markets_id_is_never_given_to_another(client: FlaskClient,
                                                       auth: AuthActions) -> None:
    first = client.post("/api/markets", json={"name": "First"}, headers=auth.headers())
    gone = first.get_json()["data"]["id"]
    assert client.delete(f"/api/markets/{gone}", headers=auth.headers()).status_code == 204
    second = client.post("/api/markets", json={"name": "Second"}, headers=auth.headers())
    assert second.get_json()["data"]["id"] > gone, "SQLite reused the id (no AUTOINCREMENT)"
    assert client.get(f"/api/markets/{gone}").status_code == 404
