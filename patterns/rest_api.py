"""The markets REST blueprint: the seed's five routes with correct status codes and validation."""

from __future__ import annotations

from flask import Blueprint, Response, g, url_for

from patterns.auth_middleware import can_modify, require_auth
from patterns.error_handling import ApiError
from patterns.markets import market_payload, market_service
from patterns.models import Market
from patterns.schemas import ListQuerySchema, MarketSchema, MarketWriteSchema
from patterns.service_layer import SearchQuerySchema
from patterns.web import envelope, json_body, query_args

bp = Blueprint("markets", __name__, url_prefix="/api/markets")

_market = MarketSchema()
_markets = MarketSchema(many=True)


def _owned_market(market_id: int) -> Market:
    market = market_service().get_by_id(market_id)
    if market is None:
        raise ApiError(f"market {market_id} not found", 404)
    # 403, not 404: markets are public (GET shows them), so hiding existence would protect nothing.
    if not can_modify(g.current_user, market.creator_id):
        raise ApiError("only the market's creator or an admin may change it", 403)
    return market


@bp.get("")
def list_markets() -> tuple[Response, int]:
    """GET /api/markets?status=&limit=&offset= — one bounded page."""
    q = query_args(ListQuerySchema())
    markets = market_service().get_all(status=q.get("status"), limit=q["limit"], offset=q["offset"])
    return envelope(_markets.dump(markets),
                    meta={"limit": q["limit"], "offset": q["offset"], "count": len(markets)})


@bp.get("/search")
def search_markets() -> tuple[Response, int]:
    """GET /api/markets/search?q=&limit= — markets ranked by similarity to q, best first."""
    q = query_args(SearchQuerySchema())
    results = market_service().search_markets(q["q"], limit=q["limit"])
    hits = [{"score": round(r.score, 4), "market": _market.dump(r.market)} for r in results]
    return envelope(hits, meta={"q": q["q"], "limit": q["limit"], "count": len(results)})


@bp.get("/<int:market_id>")
def get_market(market_id: int) -> tuple[Response, int]:
    """GET /api/markets/<id> — 404 when it does not exist; served from the cache (lesson 08)."""
    data = market_payload(market_id)
    if data is None:
        raise ApiError(f"market {market_id} not found", 404)
    return envelope(data)


@bp.post("")
@require_auth
def create_market() -> tuple[Response, int, dict[str, str]]:
    """POST /api/markets — 201 with a Location header naming the new market."""
    data = json_body(MarketWriteSchema())
    market = market_service().create(data, creator_id=g.current_user.id)
    location = url_for("markets.get_market", market_id=market.id)
    response, status = envelope(_market.dump(market), 201)
    return response, status, {"Location": location}


@bp.put("/<int:market_id>")
@require_auth
def update_market(market_id: int) -> tuple[Response, int]:
    """PUT /api/markets/<id> — replace the writable fields; 404 when it does not exist."""
    _owned_market(market_id)
    data = json_body(MarketWriteSchema())
    market = market_service().update(market_id, data)
    if market is None:  # deleted by another request since _owned_market read it
        raise ApiError(f"market {market_id} not found", 404)
    return envelope(_market.dump(market))


@bp.delete("/<int:market_id>")
@require_auth
def delete_market(market_id: int) -> Response:
    """DELETE /api/markets/<id> — 204 with an empty body (a 204 cannot carry one)."""
    _owned_market(market_id)
    if not market_service().delete(market_id):  # another request deleted it first
        raise ApiError(f"market {market_id} not found", 404)
    response = Response(status=204)
    del response.headers["Content-Type"]  # no body, so no type to announce
    return response

