"""The markets backend of the Backend Patterns Workbook: one module per pattern."""

from patterns.app import create_app

__all__ = ["create_app"]
