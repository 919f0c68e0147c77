"""The markets blueprint: status codes, validation, and bad input that changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
from flask import Blueprint, Flask, abort, jsonify, make_response, request
from flask.testing import FlaskClient
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from evidence.grading import WrongAnswer
from evidence.lab import AuthActions
from evidence.rest_api import status_code_checks
from evidence.rest_api_exercise import check_market_positions
from patterns.db import get_db, get_session
from patterns.error_handling import ApiError
from patterns.models import Market, Position, Side
from patterns.schemas import Strict
from patterns.seed.rest_api import seed_app
from patterns.service_layer import MarketService
from patterns.web import envelope, query_args


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


# ---- the exercise's check: GET /api/markets/<id>/positions?side=&limit= --------------------

def _positions_page(market_id: int, side: str | None, limit: int) -> list[dict]:
    stmt = select(Position).where(Position.market_id == market_id).order_by(Position.id)
    if side is not None:
        stmt = stmt.where(Position.side == side)
    rows = get_session().scalars(stmt.limit(limit))
    return [{"id": p.id, "user_id": p.user_id, "side": p.side.value, "amount": float(p.amount)}
            for p in rows]


def _market_or_404(market_id: int) -> None:
    if get_session().get(Market, market_id) is None:
        raise ApiError(f"market {market_id} not found", 404)


def answer(schema: type[Schema] | None = None, *, lookup: bool = True, filtered: bool = True,
           load: Callable[[Schema], dict] = query_args) -> Blueprint:
    """The reference answer, or one with a single part changed (the wrong answers below)."""
    positions = Blueprint("positions", __name__, url_prefix="/api/markets")

    class PositionQuerySchema(Strict):
        side = fields.String(validate=validate.OneOf(["yes", "no"]))
        limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @positions.get("/<int:market_id>/positions")
    def market_positions(market_id: int):
        q = load((schema or PositionQuerySchema)())
        if lookup:
            _market_or_404(market_id)
        data = _positions_page(market_id, q.get("side") if filtered else None, q["limit"])
        return envelope(data, meta={"limit": q["limit"], "count": len(data)})

    return positions


def in_python() -> Blueprint:  # another correct answer: plain Schema (RAISE), the relationship
    positions = Blueprint("positions", __name__, url_prefix="/api/markets")

    class Query(Schema):
        side = fields.String(validate=validate.OneOf([s.value for s in Side]))
        limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))

    @positions.route("/<int:market_id>/positions", methods=["GET"])
    def market_positions(market_id: int):
        args = query_args(Query())
        market = get_session().get(Market, market_id)
        if market is None:
            raise ApiError("no such market", 404)
        mine = [p for p in market.positions if args.get("side") in (None, p.side)]
        return envelope([{"id": p.id, "side": p.side} for p in mine[: args["limit"]]])

    return positions


def stub() -> Blueprint:
    positions = Blueprint("positions", __name__, url_prefix="/api/markets")

    @positions.get("/<int:market_id>/positions")
    def market_positions(market_id):
        raise NotImplementedError("your code here")

    return positions


def seed_style() -> Blueprint:  # the seed's request.args.get(..., type=int): nothing validated
    positions = Blueprint("positions", __name__, url_prefix="/api/markets")

    @positions.get("/<int:market_id>/positions")
    def market_positions(market_id: int):
        _market_or_404(market_id)
        limit = request.args.get("limit", 20, type=int)
        return envelope(_positions_page(market_id, request.args.get("side"), limit))

    return positions


class NoMax(Strict):
    side = fields.String(validate=validate.OneOf(["yes", "no"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1))


class Lenient(Schema):
    class Meta:
        unknown = EXCLUDE

    side = fields.String(validate=validate.OneOf(["yes", "no"]))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def jsonify_400(schema: Schema) -> dict:
    try:
        return schema.load(request.args.to_dict())
    except ValidationError as err:
        abort(make_response(jsonify({"success": False, "error": err.messages}), 400))


WRONG_ANSWERS = [
    (stub, "market_positions is not written yet"),
    (seed_style, "?side=maybe; yours answered 200 application/json with 0 positions: the value "
                 "was not validated"),
    (lambda: answer(NoMax), "?limit=10000000; yours answered 200 application/json with 3 "
                            "positions: the limit has no upper bound (100)"),
    (lambda: answer(Lenient), "?sdie=yes; yours answered 200 application/json with 3 positions: "
                              "an unknown parameter was ignored"),
    (lambda: answer(load=lambda schema: schema.load(request.args.to_dict())),
     "422 is for a body); yours answered 422 application/problem+json"),
    (lambda: answer(lookup=False), "no such market); yours answered 200 application/json with "
                                   "0 positions: look the market up first"),
    (lambda: answer(filtered=False), "only the 'yes' positions for"),
    (lambda: answer(load=jsonify_400), "in application/problem+json; yours answered 400 "
                                       "application/json"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(capsys) -> None:
    for correct in (answer, in_python):
        check_market_positions(correct())
    assert capsys.readouterr().out.count("✓ GET /api/markets/<int:market_id>/positions") == 2


@pytest.mark.parametrize("wrong, message", WRONG_ANSWERS)
def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(
        wrong: Callable[[], Blueprint], message: str) -> None:
    with pytest.raises(WrongAnswer) as caught:
        check_market_positions(wrong())
    assert message in caught.value.reason


def test_the_exercise_check_refuses_what_is_not_a_mountable_blueprint() -> None:
    with pytest.raises(WrongAnswer, match="to be a flask.Blueprint; yours is function"):
        check_market_positions(answer)
    clash = Blueprint("markets", __name__, url_prefix="/api/markets")
    with pytest.raises(WrongAnswer, match="registering yours raised ValueError"):
        check_market_positions(clash)
    elsewhere = Blueprint("positions", __name__)
    elsewhere.get("/positions/<int:market_id>")(lambda market_id: "")
    with pytest.raises(WrongAnswer, match="yours has /positions/<int:market_id>"):
        check_market_positions(elsewhere)
