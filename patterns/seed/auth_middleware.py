"""The seed's auth middleware (its "Middleware Pattern"), as written, on a bare app.

(a) Adapted from the seed, because its snippet cannot run as it stands:
- `from app.auth import verify_token` -> `patterns.seed.harness`: the seed never shows app.auth;
  the harness gives verify_token a *correct* PyJWT check, so whatever goes wrong in lesson 04
  comes from the decorators alone.
- Its "# Usage" route uses `bp` and `User` without defining them: three added lines (marked)
  give it a blueprint under /api and Flask-SQLAlchemy's `User.query` on the request's session.
Everything else between the markers is the seed's text.
"""

# ==== (b) The seed's code ("Middleware Pattern" in backend-patterns.md), as written ====
# app/middleware/auth.py

from functools import wraps
from flask import request, g, jsonify
from patterns.seed.harness import verify_token
# (adapted: the names the seed's "# Usage" takes from elsewhere)
from flask import Blueprint
from patterns.seed.harness import User
bp = Blueprint('seed_auth', __name__, url_prefix='/api')

def require_auth(f):
    """Decorator to require authentication."""
    @wraps(f)
    def decorated(*args, **kwargs):
        token = request.headers.get('Authorization', '').replace('Bearer ', '')

        if not token:
            return jsonify({'error': 'Unauthorized'}), 401

        user = verify_token(token)
        if user is None:
            return jsonify({'error': 'Invalid token'}), 401

        g.current_user = user
        return f(*args, **kwargs)

    return decorated

def require_role(role: str):
    """Decorator to require specific role."""
    def decorator(f):
        @wraps(f)
        @require_auth
        def decorated(*args, **kwargs):
            if g.current_user.role != role:
                return jsonify({'error': 'Forbidden'}), 403
            return f(*args, **kwargs)
        return decorated
    return decorator

# Usage
@bp.route('/admin/users', methods=['GET'])
@require_role('admin')
def list_users():
    return jsonify({'users': User.query.all()})
# ==== end of the seed's code ====


# ==== (c) Harness: a probe route and the app lesson 04 runs the decorators on ====
from flask import Flask

from patterns.seed.harness import bare_app


@bp.route("/whoami", methods=["GET"])
@require_auth
def whoami():
    """A probe: which user did the seed's require_auth let in?"""
    return jsonify({"user": g.current_user.email})


def seed_app(rows: int = 20) -> Flask:
    """A bare Flask app: the seed's decorators in front of its routes, no error handlers."""
    return bare_app("seed_auth", bp, rows=rows)
