"""The shared harness of the seed's snippets: a bare Flask app, and the names they import unshown.

(a) Adapted from the seed: nothing; this module holds no seed code. The seed's snippets import
modules it never shows (app.auth, app.services.market_service as its routes call it) and use
Flask-SQLAlchemy's `Model.query`; the stand-ins below give them just enough to run, built on the
public API of `patterns` (config, Database, demo data, token check). `bare_app` builds an app of
the seed's own instead of borrowing the reference app's internals.
"""

# ==== (b) The seed's code: none in this module ====

# ==== (c) Harness ====
import logging
from typing import Any

import jwt
from flask import Blueprint, Flask
from flask.logging import default_handler
from sqlalchemy import select
from sqlalchemy.orm import Query

from patterns import auth_middleware, config, models
from patterns.db import Database, get_db, get_session
from patterns.demo_data import seed_demo_data


def bare_app(name: str, *blueprints: Blueprint, rows: int | None = None,
             log: bool = False) -> Flask:
    """A Flask app with only the seed's blueprints, no error handlers; rows: demo markets."""
    app = Flask(name)
    env = config.from_env()  # the database a run chose (SQLite or PostgreSQL) and a signing key
    # Not TESTING: an exception becomes the 500 a client would get, as in production.
    app.config.update(DATABASE_URL=env["DATABASE_URL"], SECRET_KEY=env["SECRET_KEY"],
                      DATABASE_ISOLATED=True, TESTING=False, PROPAGATE_EXCEPTIONS=False)
    # The lessons show the seed's responses, not the tracebacks Flask logs for its 500s; a lesson
    # that reads the seed's own log (log=True) captures it with capture_logs(logger=name).
    app.logger.removeHandler(default_handler)
    if not any(isinstance(h, logging.NullHandler) for h in app.logger.handlers):
        app.logger.addHandler(logging.NullHandler())  # nothing falls through to stderr
    app.logger.disabled = not log
    if rows is not None:
        Database(app)  # private tables (a SQLite file or a PostgreSQL scratch schema)
        if rows:
            with get_db(app).new_session() as session:
                seed_demo_data(session, rows)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def verify_token(token: str) -> models.User | None:
    """The seed's app.auth.verify_token, never shown: a correct PyJWT check, then the user."""
    try:
        claims = auth_middleware.verify_token(token)
    except jwt.InvalidTokenError:
        return None
    return get_session().get(models.User, int(claims["sub"]))


class FlaskSqlalchemyModel:
    """A model as Flask-SQLAlchemy shows it to the seed: `Model.query` on the request's session."""

    def __init__(self, model: type[models.Base]) -> None:
        self._model = model

    @property
    def query(self) -> Query[Any]:
        return get_session().query(self._model)


User = FlaskSqlalchemyModel(models.User)


class MarketService:
    """What the seed's routes assume: static methods over a global session, returning dicts."""

    @staticmethod
    def get_all(status: str | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
        stmt = select(models.Market).order_by(models.Market.id)
        if status:
            stmt = stmt.where(models.Market.status == status)
        return [_to_dict(m) for m in get_session().scalars(stmt.offset(offset).limit(limit))]

    @staticmethod
    def get_by_id(market_id: int) -> dict | None:
        market = get_session().get(models.Market, market_id)
        return None if market is None else _to_dict(market)

    @staticmethod
    def create(data: dict) -> dict:
        market = models.Market(**data, creator_id=1)  # the seed never says who creates it
        get_session().add(market)
        get_session().commit()
        return _to_dict(market)

    @staticmethod
    def update(market_id: int, data: dict) -> dict | None:
        market = get_session().get(models.Market, market_id)
        if market is None:
            return None
        for key, value in data.items():
            setattr(market, key, value)
        get_session().commit()
        return _to_dict(market)

    @staticmethod
    def delete(market_id: int) -> bool:
        market = get_session().get(models.Market, market_id)
        if market is None:
            return False
        get_session().delete(market)
        get_session().commit()
        return True


def _to_dict(m: models.Market) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "status": str(m.status), "volume": float(m.volume or 0)}
