"""`make serve`: the reference markets API on the configured backends, seeded with demo data."""

from __future__ import annotations

import os
import signal
import socket
import sys
from types import FrameType

from sqlalchemy import select

from patterns.app import create_app
from patterns.auth_middleware import issue_token
from patterns.background_jobs import start_worker
from patterns.config import ConfigurationError, describe
from patterns.db import get_db
from patterns.models import User


def _stop(signum: int, _frame: FrameType | None) -> None:
    # `kill` (SIGTERM) ends the server like Ctrl+C: the finally blocks and the exit hooks run,
    # so the embedded database and its WAL are removed and the worker stops.
    raise SystemExit(128 + signum)


# Not 5000: macOS's AirPlay receiver holds it on many laptops (and answers 403 to the API's URLs).
DEFAULT_PORT = 5050


def port_problem(host: str, raw: str) -> str | None:
    """Why the server cannot listen on host:raw, in one line naming PORT; None when it can."""
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        return f"PORT={raw} is not a port number: try make serve PORT={DEFAULT_PORT + 1}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind((host, int(raw)))
        except OSError as exc:
            return (f"port {raw} on {host} is busy ({exc.strerror}): stop what holds it, or "
                    f"choose another: make serve PORT={int(raw) + 1}")
    return None


def main() -> int:
    """Start the API and print where it listens and how to authenticate."""
    signal.signal(signal.SIGTERM, _stop)
    host = os.environ.get("HOST", "127.0.0.1")
    raw = os.environ.get("PORT") or str(DEFAULT_PORT)
    # Checked before anything is seeded: a busy port is one line, never a moved server.
    problem = port_problem(host, raw)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    port = int(raw)
    rows = int(os.environ.get("WORKBOOK_DEMO_ROWS", "100"))
    try:
        app = create_app({"DEMO_ROWS": rows})
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with app.app_context(), get_db(app).new_session() as session:
        admin = session.scalar(select(User).where(User.email == "user1@example.com"))
        token = issue_token(admin) if admin else "(no demo admin)"
    backends = ", ".join(f"{k}: {v}" for k, v in describe(app.config).items())
    report = get_db(app).report
    found = report.describe() if report else "no database report"
    print(f"Markets API on http://{host}:{port}/api/markets  ({backends}; {found})")
    print(f"Demo admin token (1 h):\n  Authorization: Bearer {token}")
    # Jobs need a worker: in this process on the in-memory broker, or a process on a real one.
    worker = start_worker(app)
    try:
        app.run(host=host, port=port, debug=False)
    finally:
        worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
