"""POST /api/markets/<id>/index answers 202 and where to look; GET /api/tasks/<id> reports."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from patterns.auth_middleware import require_auth
from patterns.background_jobs.celery_app import get_celery
from patterns.background_jobs.tasks import index_market
from patterns.caching import get_cache
from patterns.error_handling import ApiError
from patterns.markets import market_payload

bp = Blueprint("jobs", __name__)

_TASK_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UNREBUILT = re.compile(r"<class '(?:\w+\.)*(\w+)'>\(")
TASK_TTL = 3600  # as long as Celery keeps the result


def _remember(task_id: str, name: str) -> None:
    # Celery reports any unknown id as PENDING; remembering ours turns a typo into a 404.
    cache = get_cache()
    cache.client.set(cache.full_key(f"jobs:task:{task_id}"), name, ex=TASK_TTL)


def _known(task_id: str) -> bool:
    cache = get_cache()
    key = cache.full_key(f"jobs:task:{task_id}")
    return bool(_TASK_ID.match(task_id)) and bool(cache.client.exists(key))


def _error_type(exc: object) -> str:
    # Celery rebuilds a stored exception from its type and arguments; one it cannot rebuild
    # (OperationalError takes three) comes back as Exception("<class 'module.Type'>(...)").
    rebuilt = _UNREBUILT.match(str(exc)) if type(exc) is Exception else None
    return rebuilt.group(1) if rebuilt else type(exc).__name__


@bp.post("/api/markets/<int:market_id>/index")
@require_auth
def trigger_index(market_id: int) -> tuple[Response, int, dict[str, str]]:
    """Queue indexing of one market: 202 Accepted, the task id, and a Location to poll."""
    if market_payload(market_id) is None:
        raise ApiError(f"market {market_id} not found", 404)
    result = get_celery().tasks[index_market.name].delay(market_id)
    _remember(result.id, index_market.name)
    location = url_for("jobs.task_status", task_id=result.id)
    body = {"success": True, "data": {"task_id": result.id, "state": "PENDING"}}
    return jsonify(body), 202, {"Location": location}


@bp.get("/api/tasks/<task_id>")
def task_status(task_id: str) -> tuple[Response, int, dict[str, str]]:
    """The task's state (PENDING, STARTED, RETRY, SUCCESS, FAILURE) and its result or error."""
    if not _known(task_id):
        raise ApiError(f"task {task_id} not found", 404)
    result = get_celery().AsyncResult(task_id)
    data: dict[str, Any] = {"task_id": task_id, "state": result.state}
    headers: dict[str, str] = {}
    if result.state == "SUCCESS":
        data["result"] = result.result
    elif result.state in ("FAILURE", "RETRY"):
        # The exception's type only, as a 500 says nothing: a driver's message names hosts,
        # users and SQL. The message and the traceback are in the worker's log.
        data["error"] = _error_type(result.result)
    if not result.ready():
        headers["Retry-After"] = "1"  # when a polling client should ask again
    return jsonify({"success": True, "data": data}), 200, headers
