"""Configuration: read in one place, embedded by default, secrets masked, bad URLs fail fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

from patterns.app import create_app
from patterns.config import ConfigurationError, describe, from_env, mask_url


def test_unset_or_empty_variables_mean_embedded() -> None:
    settings = from_env({"WORKBOOK_DATABASE_URL": "", "WORKBOOK_REDIS_URL": ""})
    assert settings["DATABASE_URL"] is None and settings["REDIS_URL"] is None
    assert settings["BROKER_URL"] is None
    assert describe(settings) == {"database": "SQLite (embedded)", "cache": "fakeredis (embedded)",
                                  "broker": "in-memory (embedded)"}


def test_variables_switch_to_real_services() -> None:
    settings = from_env({"WORKBOOK_DATABASE_URL": "postgresql+psycopg://u@h/db",
                         "WORKBOOK_REDIS_URL": "redis://h:6379/0",
                         "WORKBOOK_BROKER_URL": "redis://h:6379/1"})
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
    assert describe(settings)["database"] == "postgresql"
    assert settings["REDIS_URL"] == "redis://h:6379/0" and settings["BROKER_URL"] == "redis://h:6379/1"
    assert describe(settings)["broker"] == "Redis"


@pytest.mark.parametrize("url, name", [("amqp://guest:guest@h:5672//", "RabbitMQ"),
                                       ("filesystem:///tmp/broker", "a folder (filesystem)")])
def test_the_broker_is_named_by_its_scheme(url: str, name: str) -> None:
    assert describe(from_env({"WORKBOOK_BROKER_URL": url}))["broker"] == name


@pytest.mark.parametrize("url, masked", [
    ("postgresql+psycopg://bob:hunter2@db:5432/x", "postgresql+psycopg://bob:***@db:5432/x"),
    ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
    ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_mask_url_hides_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "hunter2" not in mask_url(url)


# These two call create_app itself: make_app turns a ConfigurationError into pytest.exit.
def test_unreachable_database_fails_fast_with_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        create_app({"DATABASE_URL": "postgresql+psycopg://bob:hunter2@127.0.0.1:1/none"})
    message = str(info.value)
    assert message.startswith("WORKBOOK_DATABASE_URL=postgresql+psycopg://bob:***@127.0.0.1:1/none")
    assert "hunter2" not in message and "\n" not in message


def test_nonsense_database_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="WORKBOOK_DATABASE_URL"):
        create_app({"DATABASE_URL": "nosuchdriver://x"})


def test_serve_prints_one_line_and_exits_2_on_a_bad_url() -> None:
    env = {"WORKBOOK_DATABASE_URL": "postgresql+psycopg://bob:hunter2@127.0.0.1:1/none",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "patterns.serve"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "WORKBOOK_DATABASE_URL=" in done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
