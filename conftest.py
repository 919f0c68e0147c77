"""Root pytest configuration: nbval's sanitize file found wherever pytest is started."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    # nbval resolves --nbval-sanitize-with against the start directory; pin it to the repo.
    if hasattr(config.option, "nbval_sanitize_with") and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(ROOT / "nbval-sanitize.cfg")
