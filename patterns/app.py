"""The application factory: configuration in, a wired Flask app out; nothing built on import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, jsonify
from sqlalchemy import select

from patterns import (
    admin,
    auth_middleware,
    background_jobs,
    bootstrap,
    caching,
    error_handling,
    openapi,
    rest_api,
    structured_logging,
)
from patterns import config as settings
from patterns.background_jobs import api as jobs_api
from patterns.db import Database, get_db
from patterns.demo_data import seed_demo_data
from patterns.models import User
from patterns.schemas import IdConverter
from patterns.web import ChunkedBodyLimit


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the markets app; config overrides what the environment says."""
    app = Flask(__name__)
    # Every <int:...> in this app is a row id: one too big for the column is a 404, not a 500.
    # Set first: a converter is bound when a route is added, whichever module adds it.
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(settings.from_env())
    if config:
        app.config.from_mapping(config)
        # Tests get private tables unless they ask otherwise.
        app.config.setdefault("DATABASE_ISOLATED", False)
        if config.get("TESTING") and "DATABASE_ISOLATED" not in config:
            app.config["DATABASE_ISOLATED"] = True

    # Flask's documented way to add WSGI middleware; mypy sees a method being replaced.
    app.wsgi_app = ChunkedBodyLimit(app, app.wsgi_app)  # type: ignore[method-assign]
    Database(app)
    structured_logging.init_app(app)
    error_handling.init_app(app)
    auth_middleware.init_app(app)  # refuses a short signing key before anything is served
    caching.init_app(app)  # the Redis client: built here, per app, never at import time
    background_jobs.init_app(app)  # Celery bound to this app; the worker is started separately

    # The whole URL map, read off one place.
    app.register_blueprint(rest_api.bp)  # /api/markets
    app.register_blueprint(jobs_api.bp)  # /api/markets/<id>/index, /api/tasks/<id>
    app.register_blueprint(admin.bp)  # /api/admin
    app.register_blueprint(admin.cache_bp)  # /api/cache
    app.register_blueprint(openapi.bp)  # /api/openapi.json

    @app.get("/api/health")
    def health() -> Any:
        return jsonify({"success": True, "data": {"status": "ok"}})

    _register_cli(app)
    return app


def _register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    @click.option("--rows", default=100, show_default=True, help="how many markets")
    def seed_demo(rows: int) -> None:
        """Write the deterministic demo data into empty tables."""
        with get_db(app).new_session() as session:
            counts = seed_demo_data(session, rows)
        click.echo(f"seeded {counts.users} users, {counts.markets} markets, "
                   f"{counts.positions} positions")

    @app.cli.command("reset-demo")
    @click.option("--rows", default=100, show_default=True, help="how many demo markets")
    @click.option("--yes", is_flag=True, help="really drop every table of the workbook")
    def reset_demo(rows: int, yes: bool) -> None:
        """Drop the workbook's tables and start again with fresh demo data (a new database id)."""
        if not yes:
            raise click.UsageError("this drops every market, user and position in "
                                   f"{settings.describe(app.config)['database']}; "
                                   "run again with --yes to do it")
        db = get_db(app)
        assert db.engine is not None
        db.report = bootstrap.reset(db.engine, rows)
        click.echo(f"reset: {db.report.describe()}")

    @app.cli.command("issue-token")
    @click.argument("email", default="user1@example.com")
    def issue_token_cmd(email: str) -> None:
        """Print a bearer token for a user (user1@example.com is the demo admin)."""
        with get_db(app).new_session() as session:
            if app.config["DATABASE_URL"] is None and session.scalar(select(User.id)) is None:
                # Embedded: this process got its own empty SQLite file. `make serve` seeds the
                # same deterministic demo users (user N has id N), so seed them here as well.
                seed_demo_data(session, 100)
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                raise click.ClickException(f"no user with email {email}")
            click.echo(auth_middleware.issue_token(user))
