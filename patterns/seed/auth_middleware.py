"""The seed's auth middleware, as written, on a bare app; only verify_token (unshown) is ours."""

from __future__ import annotations

from functools import wraps

import jwt
from flask import Blueprint, Flask, g, jsonify, request
from flask.logging import default_handler
from sqlalchemy import select

from patterns import auth_middleware
from patterns.app import create_app
from patterns.db import get_session
from patterns.models import User


def verify_token(token: str) -> User | None:
    """The seed imports this from app.auth and never shows it: here, a correct PyJWT check."""
    try:
        claims = auth_middleware.verify_token(token)
    except jwt.InvalidTokenError:
        return None
    return get_session().get(User, int(claims["sub"]))


# ---- the seed's middleware, unchanged below this line ----
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
bp = Blueprint('seed_auth', __name__, url_prefix='/api')

@bp.route('/admin/users', methods=['GET'])
@require_role('admin')
def list_users():
    # The seed's `User.query.all()` is Flask-SQLAlchemy; the same rows through our session:
    return jsonify({'users': get_session().scalars(select(User)).all()})
# ---- end of the seed's middleware ----


@bp.route('/whoami', methods=['GET'])
@require_auth
def whoami():
    """A probe: which user did the seed's require_auth let in?"""
    return jsonify({'user': g.current_user.email})


def seed_app(rows: int = 20) -> Flask:
    """A bare Flask app: the seed's decorators in front of its routes, no error handlers."""
    base = create_app({"TESTING": True, "DEMO_ROWS": rows})
    app = Flask("seed_auth")
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False,
                      SECRET_KEY=base.config["SECRET_KEY"])
    app.logger.removeHandler(default_handler)  # the lesson shows the 500, not its traceback
    app.logger.disabled = True
    app.extensions["db"] = base.extensions["db"]
    app.teardown_appcontext(base.teardown_appcontext_funcs[0])
    app.register_blueprint(bp)
    return app
