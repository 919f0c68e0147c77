"""`make serve`: the banner says what the database holds, and `kill` cleans up like Ctrl+C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from patterns.config import ENV_BROKER_URL, ENV_DATABASE_URL, ENV_REDIS_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_removes_the_embedded_database_as_ctrl_c_does(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_DATABASE_URL, ENV_REDIS_URL, ENV_BROKER_URL)}
    env.update(TMPDIR=str(tmp_path), PORT=str(free_port()), WORKBOOK_DEMO_ROWS="5")
    server = subprocess.Popen([sys.executable, "-m", "patterns.serve"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert "5 markets, 5 of them demo data (seeded 5 just now)" in banner, banner
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob("workbook-*/markets.sqlite3")):
            assert time.monotonic() < deadline, "the embedded database never appeared"
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    finally:
        server.kill()
    assert server.returncode == 128 + signal.SIGTERM
    assert not list(tmp_path.glob("workbook-*")), "SIGTERM left the embedded database behind"
