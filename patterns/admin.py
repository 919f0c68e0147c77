"""The admin endpoints: the seed's user list, for real, and this process's cache figures."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import select

from patterns.auth_middleware import require_role
from patterns.caching import get_cache
from patterns.db import get_session
from patterns.models import Role, User
from patterns.schemas import AdminUserSchema, PageQuerySchema
from patterns.web import envelope, query_args

bp = Blueprint("admin", __name__, url_prefix="/api/admin")
cache_bp = Blueprint("cache", __name__, url_prefix="/api/cache")


@bp.get("/users")
@require_role(Role.ADMIN)
def list_users() -> tuple[Response, int]:
    """GET /api/admin/users?limit=&offset= — admins only; users through a schema, not as rows."""
    q = query_args(PageQuerySchema())
    users = get_session().scalars(select(User).order_by(User.id).limit(q["limit"])
                                  .offset(q["offset"])).all()
    meta = {"limit": q["limit"], "offset": q["offset"], "count": len(users)}
    return envelope(AdminUserSchema(many=True).dump(users), meta=meta)


@cache_bp.get("/stats")
@require_role(Role.ADMIN)
def cache_stats() -> tuple[Response, int]:
    """GET /api/cache/stats — this process's hits, misses, recomputes and hit ratio (admins)."""
    return envelope(get_cache().stats.as_dict())
