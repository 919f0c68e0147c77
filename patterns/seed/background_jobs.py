"""The seed's Celery tasks and trigger route (its "Task Pattern"), as written (lesson 11).

(a) Adapted from the seed, because its imports name modules this package does not have:
- `from app import create_app` -> `patterns.app`: the seed's task builds the whole app on every
  call, and that is one of the pitfalls lesson 11 counts.
- `from app.services import MarketService` -> `patterns.service_layer`, whose index_for_search
  is an instance method: the seed calls it on the class.
- Its trigger route uses `bp`, `require_auth` and `jsonify` without importing them: added lines
  (marked) give it a blueprint under /api/markets and the seed's own require_auth.
Everything else between the markers is the seed's text.
"""

# ==== (b) The seed's code ("Task Pattern" in backend-patterns.md), as written ====
# app/tasks/market_tasks.py

from celery import shared_task
from patterns.app import create_app
from patterns.service_layer import MarketService
# (adapted: the names the seed's trigger route takes from elsewhere)
from flask import Blueprint, jsonify
from patterns.seed.auth_middleware import require_auth
bp = Blueprint('seed_jobs', __name__, url_prefix='/api/markets')

@shared_task(bind=True, max_retries=3)
def index_market(self, market_id: int):
    """Background task to index a market for search."""
    try:
        app = create_app()
        with app.app_context():
            MarketService.index_for_search(market_id)
    except Exception as exc:
        self.retry(exc=exc, countdown=60)

@shared_task
def cleanup_expired_markets():
    """Periodic task to cleanup expired markets."""
    app = create_app()
    with app.app_context():
        MarketService.cleanup_expired()

# Trigger from API
@bp.route('/<int:market_id>/index', methods=['POST'])
@require_auth
def trigger_index(market_id: int):
    index_market.delay(market_id)
    return jsonify({'success': True, 'message': 'Indexing queued'})
# ==== end of the seed's code ====


# ==== (c) Harness: none; lesson 11 runs index_market on its own Celery app ====
