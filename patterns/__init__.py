"""The markets backend of the Backend Patterns Workbook: one module per pattern."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patterns.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # `from patterns import create_app` still works, but `import patterns.db` (the test
    # harness, a tool, a subprocess) no longer pays for Flask, Celery and fakeredis: 0.7 s.
    if name == "create_app":
        from patterns.app import create_app

        return create_app
    raise AttributeError(f"module 'patterns' has no attribute {name!r}")
