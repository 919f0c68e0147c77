"""The seed's markets blueprint, as written, over a static-method service that returns dicts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import select

from patterns.app import create_app
from patterns.db import get_session
from patterns.models import Market


class MarketService:
    """What the seed's routes assume: static methods over a global session (never shown)."""

    @staticmethod
    def get_all(status: str | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
        stmt = select(Market).order_by(Market.id)
        if status:
            stmt = stmt.where(Market.status == status)
        return [_to_dict(m) for m in get_session().scalars(stmt.offset(offset).limit(limit))]

    @staticmethod
    def get_by_id(market_id: int) -> dict | None:
        market = get_session().get(Market, market_id)
        return None if market is None else _to_dict(market)

    @staticmethod
    def create(data: dict) -> dict:
        market = Market(**data, creator_id=1)  # the seed never says who creates it
        get_session().add(market)
        get_session().commit()
        return _to_dict(market)

    @staticmethod
    def update(market_id: int, data: dict) -> dict | None:
        market = get_session().get(Market, market_id)
        if market is None:
            return None
        for key, value in data.items():
            setattr(market, key, value)
        get_session().commit()
        return _to_dict(market)

    @staticmethod
    def delete(market_id: int) -> bool:
        market = get_session().get(Market, market_id)
        if market is None:
            return False
        get_session().delete(market)
        get_session().commit()
        return True


def _to_dict(m: Market) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "status": str(m.status), "volume": float(m.volume or 0)}


# ---- the seed's blueprint, unchanged below this line ----
bp = Blueprint('markets', __name__, url_prefix='/api/markets')

@bp.route('', methods=['GET'])
def list_markets():
    """GET /api/markets - List all markets"""
    status = request.args.get('status')
    limit = request.args.get('limit', 20, type=int)
    offset = request.args.get('offset', 0, type=int)

    markets = MarketService.get_all(status=status, limit=limit, offset=offset)
    return jsonify({'success': True, 'data': markets})

@bp.route('/<int:market_id>', methods=['GET'])
def get_market(market_id: int):
    """GET /api/markets/:id - Get specific market"""
    market = MarketService.get_by_id(market_id)
    if market is None:
        return jsonify({'success': False, 'error': 'Not found'}), 404
    return jsonify({'success': True, 'data': market})

@bp.route('', methods=['POST'])
def create_market():
    """POST /api/markets - Create new market"""
    data = request.get_json()
    market = MarketService.create(data)
    return jsonify({'success': True, 'data': market}), 201

@bp.route('/<int:market_id>', methods=['PUT'])
def update_market(market_id: int):
    """PUT /api/markets/:id - Update market"""
    data = request.get_json()
    market = MarketService.update(market_id, data)
    return jsonify({'success': True, 'data': market})

@bp.route('/<int:market_id>', methods=['DELETE'])
def delete_market(market_id: int):
    """DELETE /api/markets/:id - Delete market"""
    MarketService.delete(market_id)
    return jsonify({'success': True}), 204
# ---- end of the seed's blueprint ----


def seed_app(rows: int = 100) -> Flask:
    """A bare Flask app with only the seed's blueprint on fresh demo tables (no error handlers)."""
    base = create_app({"TESTING": True, "DEMO_ROWS": rows})
    app = Flask("seed")
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    app.logger.disabled = True  # the seed logs 500s with tracebacks; the lesson shows the status
    app.extensions["db"] = base.extensions["db"]
    app.teardown_appcontext(base.teardown_appcontext_funcs[0])
    app.register_blueprint(bp)
    return app
