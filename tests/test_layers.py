"""The house's layers: every module on one side of the web line, and patterns/ runs on its runtime
dependencies alone (nothing from the [dev] extra)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

import patterns

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "backend-patterns-workbook"


def pattern_modules(*, packages: bool = True) -> list[str]:
    """Every module of patterns/ outside seed/ (the seed's modules fail on import by design)."""
    found = pkgutil.walk_packages(patterns.__path__, prefix="patterns.")
    return sorted(m.name for m in found
                  if not m.name.startswith("patterns.seed") and (packages or not m.ispkg))


def source_files() -> list[Path]:
    """The files of patterns/ outside seed/."""
    return sorted(p for p in (ROOT / "patterns").rglob("*.py")
                  if "seed" not in p.relative_to(ROOT).parts)


def web_line() -> tuple[list[str], list[str]]:
    """The import-linter contract's two sides: pattern modules and core, and the web layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    [contract] = [c for c in contracts if "web layer" in c["name"]]
    return contract["source_modules"], contract["forbidden_modules"]


def within(module: str, names: list[str]) -> bool:
    return any(module == n or module.startswith(n + ".") for n in names)


def test_every_module_of_patterns_is_on_one_side_of_the_web_line() -> None:
    core, web = web_line()
    # A package whose every module is placed (patterns.background_jobs) needs no place of its own.
    unplaced = [m for m in pattern_modules(packages=False)
                if not (within(m, core) or within(m, web))]
    assert not unplaced, f"add these to the web-layer contract in pyproject.toml: {unplaced}"
    both = [m for m in pattern_modules() if within(m, core) and within(m, web)]
    assert not both, f"on both sides of the web line: {both}"


def runtime_distributions() -> set[str]:
    """The project's runtime requirements and theirs, recursively (markers evaluated, no extras)."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in md.requires(PROJECT) or []]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonical(req.name)
        if name in seen:
            continue
        seen.add(name)
        extras = req.extras
        for text in md.requires(name) or []:
            sub = Requirement(text)
            wanted = sub.marker is None or any(
                sub.marker.evaluate({"extra": e}) for e in (*extras, ""))
            if wanted:
                todo.append(Requirement(f"{sub.name}{str(sub.specifier)}"))
    return seen


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dev_only_modules() -> list[str]:
    """Top-level modules that only distributions outside the runtime closure provide."""
    runtime = runtime_distributions() | {canonical(PROJECT)}
    hidden = sorted(top for top, dists in md.packages_distributions().items()
                    if not any(canonical(d) in runtime for d in dists))
    assert {"IPython", "hypothesis", "jsonschema", "pytest"} <= set(hidden), "check is blind"
    return hidden


def imported_names(path: Path) -> set[str]:
    """The top-level names a file imports, at any depth (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_patterns_never_imports_a_dev_only_library_not_even_inside_a_function() -> None:
    hidden = set(dev_only_modules())
    found = {str(p.relative_to(ROOT)): sorted(imported_names(p) & hidden) for p in source_files()}
    assert not {f: n for f, n in found.items() if n}, "patterns/ imports dev-only libraries"


def test_runtime_dependencies_alone_import_every_module_of_patterns() -> None:
    # The equivalent of `pip install .` without extras: every top-level module that only a
    # non-runtime distribution provides (pytest, IPython, hypothesis, jsonschema...) is hidden.
    hidden = dev_only_modules()
    script = f"""
import importlib, importlib.abc, sys
HIDDEN = set({json.dumps(hidden)})
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not a runtime dependency)")
        return None
sys.meta_path.insert(0, Hide())
for module in {json.dumps(pattern_modules())}:
    importlib.import_module(module)
print("imported", len({json.dumps(pattern_modules())}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT / "tests", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("imported"), done.stdout
