"""Shared fixtures, flaskr style: app → client → auth, and make_app for the tests that need more."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

# The app is imported by the fixtures, not here: pytest-xdist's controller loads this file too,
# and it runs no test; the workers it starts after that import wait for it (0.7 s).
if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from evidence.lab import AuthActions

MakeApp = Callable[..., "Flask"]


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Build apps on private tables: make_app(DEMO_ROWS=0, REDIS_URL=...); each closed at the end.

    The defaults are a test app with 20 demo markets; keyword arguments override app.config.
    """
    from patterns.app import create_app
    from patterns.config import ConfigurationError
    from patterns.db import get_db

    built: list[Flask] = []

    def make(**config: Any) -> Flask:
        try:
            app = create_app({"TESTING": True, "DEMO_ROWS": 20, **config})
        except ConfigurationError as exc:  # one clear line instead of a traceback per test
            pytest.exit(str(exc), returncode=2)
        built.append(app)
        return app

    yield make
    for app in built:
        get_db(app).close()


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    """A fresh app on private tables with 20 demo markets."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth(app: Flask) -> AuthActions:
    from evidence.lab import AuthActions

    return AuthActions(app)


@pytest.fixture
def auth_for() -> Callable[[Flask], AuthActions]:
    """AuthActions for an app the test built itself (make_app)."""
    from evidence.lab import AuthActions

    return AuthActions
