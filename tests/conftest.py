"""Shared fixtures, flaskr style: app → client → auth."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from evidence.lab import token_headers
from patterns.app import create_app
from patterns.config import ConfigurationError
from patterns.db import get_db


def service_answers(host: str, port: int) -> bool:
    """Whether something listens at host:port (used to skip real-service tests with a reason)."""
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def real_services() -> bool:
    """True under `make test-real`."""
    return os.environ.get("WORKBOOK_REAL_SERVICES") == "1"


@pytest.fixture
def app() -> Iterator[Flask]:
    """A fresh app on private tables with 20 demo markets."""
    try:
        app = create_app({"TESTING": True, "DEMO_ROWS": 20})
    except ConfigurationError as exc:  # one clear line instead of a traceback per test
        pytest.exit(str(exc), returncode=2)
    yield app
    get_db(app).close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    """Bearer headers for the demo users: user1 is the admin, user2.. are plain users."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def headers(self, email: str = "user2@example.com") -> dict[str, str]:
        return token_headers(self._app, email)

    def admin(self) -> dict[str, str]:
        return token_headers(self._app, "user1@example.com")


@pytest.fixture
def auth(app: Flask) -> AuthActions:
    return AuthActions(app)
