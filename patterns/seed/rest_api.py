"""The seed's markets blueprint (its "RESTful API Structure"), as written, on a bare app.

(a) Adapted from the seed, because its imports name modules this package does not have:
- `from app.models import Market` -> `patterns.models` (the seed imports Market and never uses it).
- `from app.services.market_service import MarketService` -> `patterns.seed.harness`: the seed
  calls a static-method service it never shows (its own MarketService, in the Service Layer
  Pattern, takes a repository in `__init__`); the harness gives it one that returns dicts.
Everything else between the markers is the seed's text.
"""

# ==== (b) The seed's code ("RESTful API Structure" in backend-patterns.md), as written ====
# Flask Blueprint structure
# app/api/markets.py

from flask import Blueprint, request, jsonify
from patterns.models import Market
from patterns.seed.harness import MarketService

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
# ==== end of the seed's code ====


# ==== (c) Harness: the app lesson 01 runs the blueprint on ====
from flask import Flask

from patterns.seed.harness import bare_app


def seed_app(rows: int = 100) -> Flask:
    """A bare Flask app with only the seed's blueprint on fresh demo tables (no error handlers)."""
    return bare_app("seed", bp, rows=rows)
