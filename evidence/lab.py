"""Helpers for the lesson notebooks: a fresh seeded app, source listings, readable responses."""

from __future__ import annotations

import inspect
import json
import textwrap
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from IPython.display import Markdown
from sqlalchemy import select
from werkzeug.test import TestResponse

from patterns.app import create_app
from patterns.auth_middleware import issue_token
from patterns.db import get_db
from patterns.models import User

# Headers worth showing in a lesson; Date, Server and friends vary from run to run.
SHOWN_HEADERS = ("Content-Type", "Location", "Allow", "WWW-Authenticate", "Retry-After",
                 "Cache-Control", "ETag")


def lesson_app(rows: int = 100, **config: Any) -> Flask:
    """A fresh app on private tables (SQLite or a PostgreSQL scratch schema) with demo data."""
    return create_app({"TESTING": True, "DEMO_ROWS": rows, **config})


def token_headers(app: Flask, email: str = "user1@example.com") -> dict[str, str]:
    """Authorization headers for a demo user (user1 is the admin, the others plain users)."""
    with app.app_context(), get_db(app).new_session() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            raise LookupError(f"no demo user {email}")
        return {"Authorization": f"Bearer {issue_token(user)}"}


def source(*objects: Any) -> Markdown:
    """The source code of functions or classes, rendered as a Python listing."""
    # A method keeps its class's indentation in getsource: dedented, it reads as in an editor.
    text = "\n\n".join(textwrap.dedent(inspect.getsource(o)).rstrip() for o in objects)
    return Markdown(f"```python\n{text}\n```")


def show(response: TestResponse, headers: Iterable[str] = SHOWN_HEADERS, body: bool = True) -> None:
    """Print a response as a reader would want to see it: status, useful headers, JSON body."""
    print(f"HTTP {response.status}")
    for name in headers:
        if name in response.headers:
            print(f"{name}: {response.headers[name]}")
    if not body:
        return
    raw = response.get_data()
    if not raw:
        print("(empty body)")
    elif response.is_json:
        print(json.dumps(response.get_json(), indent=2, sort_keys=True))
    else:
        print(raw.decode(errors="replace")[:500])


def client(app: Flask) -> FlaskClient:
    """A test client: HTTP requests without a server."""
    return app.test_client()


class AuthActions:
    """Bearer headers for the demo users: user1 is the admin, user2.. are plain users."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def headers(self, email: str = "user2@example.com") -> dict[str, str]:
        return token_headers(self._app, email)

    def admin(self) -> dict[str, str]:
        return token_headers(self._app, "user1@example.com")
