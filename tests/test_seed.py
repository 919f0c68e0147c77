"""patterns/seed: three marked parts per file, one bare harness app, and nothing else imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import func, select

from patterns.db import get_db
from patterns.models import Market
from patterns.seed.harness import bare_app

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "patterns" / "seed"
SEED_FILES = sorted(SEED.glob("*.py"))
SEED_CODE = "# ==== (b) The seed's code"
SEED_END = "# ==== end of the seed's code ===="
HARNESS = "# ==== (c) Harness"


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_every_seed_file_says_what_was_adapted_then_the_seeds_code_then_its_harness(
        path: Path) -> None:
    text = path.read_text()
    docstring = ast.get_docstring(ast.parse(text), clean=False)  # parses even if import fails
    assert docstring and "(a)" in docstring and "dapted" in docstring, "no (a) docstring"
    assert text.count(SEED_CODE) == 1 and text.count(HARNESS) == 1
    assert text.index(docstring) < text.index(SEED_CODE) < text.index(HARNESS)
    if ": none" not in text[text.index(SEED_CODE):].splitlines()[0]:
        assert text.index(SEED_CODE) < text.index(SEED_END) < text.index(HARNESS)


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name)
def test_the_seeds_text_carries_no_noqa_for_the_linter(path: Path) -> None:
    # pyproject's per-file-ignores leave the seed's imports and idioms as the seed wrote them.
    assert "noqa" not in path.read_text()


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_in_patterns_outside_seed_imports_the_seed() -> None:
    outside = [p for p in (ROOT / "patterns").rglob("*.py")
               if "seed" not in p.relative_to(ROOT).parts]
    offenders = [str(p.relative_to(ROOT)) for p in outside
                 if any(m == "patterns.seed" or m.startswith("patterns.seed.")
                        for m in imported_modules(p))]
    assert outside and not offenders


def test_the_harness_borrows_no_reference_app() -> None:
    assert "patterns.app" not in imported_modules(SEED / "harness.py")
    for path in SEED_FILES:
        text = path.read_text()
        assert "teardown_appcontext_funcs" not in text and ".extensions[" not in text, path.name


def test_the_seeds_blueprint_app_has_the_seeds_routes_and_nothing_of_the_reference_app() -> None:
    from patterns.seed.rest_api import seed_app

    app = seed_app(rows=5)
    try:
        rules = {(r.rule, m) for r in app.url_map.iter_rules()
                 for m in r.methods - {"HEAD", "OPTIONS"}}
        assert rules == {("/static/<path:filename>", "GET"), ("/api/markets", "GET"),
                         ("/api/markets", "POST"), ("/api/markets/<int:market_id>", "GET"),
                         ("/api/markets/<int:market_id>", "PUT"),
                         ("/api/markets/<int:market_id>", "DELETE")}
        assert app.error_handler_spec == {}  # no error handlers: a bug is a bare 500
        with get_db(app).new_session() as session:
            assert session.scalar(select(func.count()).select_from(Market)) == 5
    finally:
        get_db(app).close()


def test_a_bare_app_without_rows_has_no_database() -> None:
    app = bare_app("seed_nothing")
    assert "db" not in app.extensions and not app.testing
