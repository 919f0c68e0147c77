"""`make doctor`'s checks that need the workbook's dependencies, run by .venv's own Python.

tools/doctor.py (standard library only) starts it as `.venv/bin/python tools/doctor_probe.py
imports|lesson|services ...`; it prints one JSON object on its last line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

IMPORTED = ("patterns.app", "evidence.lab", "numpy", "matplotlib", "nbclient", "ipykernel")
FOUND = ("jupyterlab", "nbval", "pytest")  # found, not imported: JupyterLab alone takes seconds
SHOWN = ("flask", "sqlalchemy", "celery", "redis", "jupyterlab")


def locked_mismatches(constraints: str) -> tuple[int, list[str]]:
    """(installed packages checked, those whose version differs from constraints.txt)."""
    from packaging.requirements import Requirement

    checked, wrong = 0, []
    with open(constraints) as lines:
        for line in lines:
            line = line.split("#")[0].strip()
            if not line or "==" not in line:
                continue
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                have = metadata.version(req.name)
            except metadata.PackageNotFoundError:
                continue  # an extra this setup does not install (e.g. [browser])
            checked += 1
            if have not in req.specifier:
                wrong.append(f"{req.name} {have} (locked {req.specifier})")
    return checked, wrong


def imports(constraints: str) -> dict[str, Any]:
    """The workbook's imports, the versions worth showing, and the lock's pins checked."""
    out: dict[str, Any] = {"python": sys.version.split()[0], "missing": [], "versions": {}}
    for name in IMPORTED:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any failure to import is what the learner must see
            out["missing"].append(f"{name} ({type(exc).__name__}: {exc})")
    out["missing"] += [name for name in FOUND if importlib.util.find_spec(name) is None]
    for dist in SHOWN:
        try:
            out["versions"][dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    spec = importlib.util.find_spec("patterns")
    out["patterns"] = spec.origin if spec else None
    out["pinned"], out["wrong"] = locked_mismatches(constraints)
    return out


def lesson(path: str) -> dict[str, Any]:
    """Run a lesson in a fresh kernel (in a temporary folder): its errors, the kernel's Python."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                           record_timing=False, resources={"metadata": {"path": tmp}}).execute()
        except Exception as exc:  # a kernel that never starts: say why in one line
            return {"crash": f"{type(exc).__name__}: {exc}"[:300]}
    checked = [(index, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
               and "raises-exception" not in cell.metadata.get("tags", [])]
    errors = [f"cell {index}: {out['ename']}: {out['evalue']}"[:200] for index, cell in checked
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    last = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", [])).strip()
    return {"seconds": time.perf_counter() - started, "errors": errors, "kernel_prefix": last,
            "prefix": sys.prefix}


def reach(url: str) -> str:
    """One round trip to the service a URL names, with the workbook's own client."""
    if url.startswith(("postgresql", "sqlite", "mysql")):
        from sqlalchemy import create_engine, text

        args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
        engine = create_engine(url, connect_args=args)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                info = engine.dialect.server_version_info or ()
        finally:
            engine.dispose()
        return f"{engine.dialect.name} {'.'.join(str(p) for p in info)} answers SELECT 1"
    if url.startswith(("redis", "rediss")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        try:
            return f"Redis {client.info('server')['redis_version']} answers PING"
        finally:
            client.close()
    from kombu import Connection

    with Connection(url, connect_timeout=5) as connection:
        connection.ensure_connection(max_retries=1)
        return f"{connection.transport_cls} broker accepts a connection"


def services(variables: list[str]) -> dict[str, list[str]]:
    out = {}
    for variable in variables:
        try:
            out[variable] = ["PASS", reach(os.environ[variable])]
        except Exception as exc:  # every failure is reported, none raised
            first = (str(exc).splitlines() or [""])[0][:160]
            out[variable] = ["FAIL", f"{type(exc).__name__}: {first}"]
    return out


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    result: Any
    if command == "imports":
        result = imports(args[0])
    elif command == "lesson":
        result = lesson(args[0])
    elif command == "services":
        result = services(args)
    else:
        print(f"unknown probe {command!r}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
