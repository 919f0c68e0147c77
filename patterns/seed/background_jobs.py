"""The seed's Celery tasks and trigger route, as written (lesson 11 shows their pitfalls)."""

# Only the imports are adapted to this package (app → patterns); the code is the seed's.

from celery import shared_task
from flask import Blueprint, jsonify

from patterns.app import create_app
from patterns.auth_middleware import require_auth
from patterns.service_layer import MarketService

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
