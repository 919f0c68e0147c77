"""`make serve`: the banner says what the database holds, and `kill` cleans up like Ctrl+C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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


def test_the_default_port_is_not_the_one_macos_airplay_holds() -> None:
    from patterns.serve import DEFAULT_PORT

    assert DEFAULT_PORT not in (5000, 7000)  # AirPlay Receiver's ports on macOS 12 and later
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert f"PORT     ?= {DEFAULT_PORT}" in makefile, "the Makefile and patterns.serve disagree"


def test_a_busy_port_is_one_line_naming_it_and_port_before_anything_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_DATABASE_URL, ENV_REDIS_URL, ENV_BROKER_URL)}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env.update(TMPDIR=str(tmp_path), PORT=str(port), WORKBOOK_DEMO_ROWS="5")
        done = subprocess.run([sys.executable, "-m", "patterns.serve"], env=env, text=True,
                              capture_output=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one sentence, no traceback
    assert f"port {port} on 127.0.0.1 is busy" in lines[0]
    assert f"make serve PORT={port + 1}" in lines[0]
    assert not list(tmp_path.glob("workbook-*")), "nothing is seeded when the port is busy"


def test_a_port_that_is_no_number_is_one_line() -> None:
    from patterns.serve import port_problem

    assert port_problem("127.0.0.1", "http") == (
        "PORT=http is not a port number: try make serve PORT=5051")
    assert port_problem("127.0.0.1", str(free_port())) is None


def test_the_banner_names_the_port_it_listens_on(tmp_path: Path) -> None:
    """The URL printed is the one served: no silent move to another port."""
    env = {k: v for k, v in os.environ.items()
           if k not in (ENV_DATABASE_URL, ENV_REDIS_URL, ENV_BROKER_URL)}
    port = free_port()
    env.update(TMPDIR=str(tmp_path), PORT=str(port), WORKBOOK_DEMO_ROWS="5")
    server = subprocess.Popen([sys.executable, "-m", "patterns.serve"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/api/markets" in banner, banner
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json",
                                            timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never answered on its port"
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=20)
