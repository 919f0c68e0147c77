"""Print every figure of every bench module as one JSON object (names are a stable interface)."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from typing import Any

import bench


def collect(only: list[str] | None = None, quick: bool = False) -> dict[str, Any]:
    """Run each bench module's figures(quick) and merge the results, in module order."""
    figures: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        started = time.perf_counter()
        figures.update(module.figures(quick=quick))
        print(f"bench.{info.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object (default)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, same names")
    parser.add_argument("modules", nargs="*", help="only these bench modules (e.g. rest_api)")
    args = parser.parse_args(argv)
    print(json.dumps(collect(args.modules, args.quick), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
