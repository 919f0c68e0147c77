"""Configuration, read in one place: environment variables with embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import make_url

# The three switches between the embedded defaults and the real services.
ENV_DATABASE_URL = "WORKBOOK_DATABASE_URL"
ENV_REDIS_URL = "WORKBOOK_REDIS_URL"
ENV_BROKER_URL = "WORKBOOK_BROKER_URL"

# None means "embedded": a throwaway SQLite file, fakeredis, an in-memory broker.
EMBEDDED = None


class ConfigurationError(RuntimeError):
    """A setting is wrong or its service does not answer; the message is one readable line."""


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL (redis://, amqp://): mask by hand
        scheme, sep, rest = url.partition("://")
        creds, at, host = rest.rpartition("@")
        if not sep or not at or ":" not in creds:
            return url
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app's settings from the environment; unset or empty variables mean embedded."""
    env = os.environ if environ is None else environ
    return {
        "DATABASE_URL": env.get(ENV_DATABASE_URL) or EMBEDDED,
        "REDIS_URL": env.get(ENV_REDIS_URL) or EMBEDDED,
        "BROKER_URL": env.get(ENV_BROKER_URL) or EMBEDDED,
        # Fresh, private tables (a temp SQLite file or a PostgreSQL schema) dropped on exit:
        # tests and notebooks turn this on so they never see or leave rows of another run.
        "DATABASE_ISOLATED": False,
        "SECRET_KEY": (env.get("WORKBOOK_SECRET_KEY")
                       or "dev-only-secret-key-change-me-0123456789abcdef"),
        "MAX_CONTENT_LENGTH": 64 * 1024,
        "DEMO_ROWS": 0,
    }


def _broker_name(url: str | None) -> str:
    if url is None:
        return "in-memory (embedded)"
    scheme = url.split("://", 1)[0]
    return {"amqp": "RabbitMQ", "pyamqp": "RabbitMQ", "filesystem": "a folder (filesystem)"}.get(
        scheme, "Redis")


def describe(config: Mapping[str, Any]) -> dict[str, str]:
    """Which backend each concern uses, in words, without secrets (for banners and lessons)."""
    db = config.get("DATABASE_URL")
    return {
        "database": "SQLite (embedded)" if db is None else make_url(db).get_backend_name(),
        "cache": "fakeredis (embedded)" if config.get("REDIS_URL") is None else "Redis",
        "broker": _broker_name(config.get("BROKER_URL")),
    }
