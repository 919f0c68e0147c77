"""`make doctor` (tools/doctor.py): each check's verdict, and the whole run before .venv exists."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import doctor  # noqa: E402  (tools/doctor.py)

GB = 1024**3


def test_python_too_old_fails_and_says_how_to_get_a_newer_one() -> None:
    old = doctor.check_python((3, 10, 12), "/usr/bin/python3", found=[])
    assert old.status == "FAIL"
    assert "older than 3.11" in old.detail and "python.org" in old.detail and "pyenv" in old.detail
    assert "make setup PYTHON=python3.12" in old.detail
    found = doctor.check_python((3, 9, 2), "/usr/bin/python3", found=["python3.12"])
    assert "make setup PYTHON=python3.12" in found.detail and found.status == "FAIL"
    assert doctor.check_python((3, 11, 0), "/usr/bin/python3").status == "PASS"
    assert doctor.check_python((3, 13, 0), "/usr/bin/python3").status == "PASS"


def test_python_too_old_with_a_working_venv_is_a_warning() -> None:
    assert doctor.check_python((3, 10, 0), "python3", venv_ok=True, found=[]).status == "WARN"


def test_disk_needs_room_for_the_venv_before_setup_and_little_after() -> None:
    assert doctor.check_disk(int(0.5 * GB), venv_exists=False, where="/x").status == "FAIL"
    assert doctor.check_disk(int(2 * GB), venv_exists=False, where="/x").status == "WARN"
    assert doctor.check_disk(int(5 * GB), venv_exists=False, where="/x").status == "PASS"
    assert doctor.check_disk(int(1 * GB), venv_exists=True, where="/x").status == "PASS"
    assert doctor.check_disk(int(0.1 * GB), venv_exists=True, where="/x").status == "FAIL"


def test_a_busy_port_warns_naming_the_variable_that_changes_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        busy = doctor.check_port("lab", "LAB_PORT", str(port))
    assert busy.status == "WARN"
    assert f"make lab LAB_PORT={port + 1}" in busy.detail
    free = doctor.check_port("serve", "PORT", str(port))  # released now
    assert free.status == "PASS" and f"PORT={port}" in free.detail
    wrong = doctor.check_port("serve", "PORT", "eighty")
    assert wrong.status == "FAIL" and "not a port number" in wrong.detail


def test_the_default_ports_are_the_makefile_ones() -> None:
    from patterns.serve import DEFAULT_PORT

    makefile = (ROOT / "Makefile").read_text()
    assert "LAB_PORT ?= 8888" in makefile and f"PORT     ?= {DEFAULT_PORT}" in makefile
    source = (ROOT / "tools" / "doctor.py").read_text()
    assert f'environ.get("PORT") or "{DEFAULT_PORT}"' in source
    assert 'environ.get("LAB_PORT") or "8888"' in source


def test_a_wheelhouse_without_this_machine_fails_naming_the_target(tmp_path: Path) -> None:
    assert doctor.check_wheelhouse(str(tmp_path)).status == "FAIL"  # no manifest
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"targets": [{"target": "macos arm64 3.12"}]}))
    other = doctor.check_wheelhouse(str(tmp_path), target="linux x86_64 3.11")
    assert other.status == "FAIL" and 'TARGETS="linux x86_64 3.11"' in other.detail
    ours = doctor.check_wheelhouse(str(tmp_path), target="macos arm64 3.12")
    assert ours.status == "PASS"
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"constraints_sha256": "0" * 64, "targets": [{"target": "macos arm64 3.12"}]}))
    stale = doctor.check_wheelhouse(str(tmp_path), target="macos arm64 3.12")
    assert stale.status == "FAIL" and "another constraints.txt" in stale.detail


def test_this_target_names_a_wheelhouse_target() -> None:
    system, machine, version = doctor.this_target().split()
    assert system in ("linux", "macos") and machine in ("x86_64", "aarch64", "arm64")
    assert version == f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_service_urls_are_masked_and_reached_over_tcp_before_the_venv() -> None:
    assert doctor.mask("amqp://guest:secret@host:5672//") == "amqp://guest:***@host:5672//"
    assert doctor.mask("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        reached = doctor.check_tcp("WORKBOOK_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    assert reached.status == "PASS"
    closed = doctor.check_tcp("WORKBOOK_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    assert closed.status == "FAIL" and "unset WORKBOOK_REDIS_URL" in closed.detail


def test_no_service_variable_is_a_skip_not_a_pass() -> None:
    [check] = doctor.check_services({}, venv=None)
    assert check.status == "SKIP"


def test_the_lesson_line_fails_on_an_error_or_the_wrong_kernel() -> None:
    ok = {"seconds": 3.2, "errors": [], "kernel_prefix": "/v", "prefix": "/v"}
    assert doctor.lesson_check(ok, "", "00_welcome").status == "PASS"
    broken = dict(ok, errors=["cell 4: ImportError: no module named flask"])
    assert "ImportError" in doctor.lesson_check(broken, "", "00_welcome").detail
    elsewhere = dict(ok, kernel_prefix="/opt/conda")
    wrong = doctor.lesson_check(elsewhere, "", "00_welcome")
    assert wrong.status == "FAIL" and "kernelspec" in wrong.detail


def test_the_verdict_fails_on_any_fail_and_counts_warnings() -> None:
    passed = doctor.Check("PASS", "make", "")
    warned = doctor.Check("WARN", "port 8888", "")
    failed = doctor.Check("FAIL", "python", "")
    assert doctor.verdict([passed])[1] == 0
    said, status = doctor.verdict([passed, warned])
    assert status == 0 and "1 warning" in said
    said, status = doctor.verdict([passed, warned, failed])
    assert status == 1 and said.startswith("NOT READY") and "python" in said


def run_doctor(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WORKBOOK_") and k not in ("LAB_PORT", "PORT")}
    env.update(extra)
    # -I -S: no site-packages at all, as on a learner's bare Python before make setup.
    return subprocess.run([sys.executable, "-I", "-S", str(ROOT / "tools" / "doctor.py"), "--venv",
                           str(tmp_path / "no-venv")], env=env, text=True, capture_output=True,
                          timeout=60)


def test_before_the_venv_it_says_what_setup_will_do_and_needs_no_dependency(
        tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "manifest.json").write_text(json.dumps(
        {"targets": [{"target": doctor.this_target()}]}))
    done = run_doctor(tmp_path, WHEELHOUSE=str(tmp_path / "wheels"))
    lines = done.stdout.splitlines()
    assert lines[0].startswith("---- make doctor") and lines[-1] == "---- end of make doctor ----"
    status = {line.split()[1]: line.split()[0] for line in lines[3:-2]}
    assert status["venv"] == "SKIP" and status["lesson"] == "SKIP"
    assert status["wheelhouse"] == "PASS"
    assert "make setup will create no-venv" in done.stdout
    assert "from the wheelhouse" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines[-2].startswith("verdict       READY")


def test_a_service_that_does_not_answer_is_a_fail_and_a_nonzero_exit(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "manifest.json").write_text(json.dumps(
        {"targets": [{"target": doctor.this_target()}]}))
    done = run_doctor(tmp_path, WHEELHOUSE=str(tmp_path / "wheels"),
                      WORKBOOK_REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0")
    assert done.returncode == 1
    assert f"FAIL WORKBOOK_REDIS_URL redis://:***@127.0.0.1:{port}/0: nothing answers" in (
        done.stdout)
    assert "hunter2" not in done.stdout
    assert "NOT READY: 1 check(s) failed (WORKBOOK_REDIS_URL)" in done.stdout


def test_the_doctor_runs_on_python_3_7_syntax() -> None:
    """It must run on the too-old Python it diagnoses: nothing newer than 3.7's grammar."""
    import ast

    source = (ROOT / "tools" / "doctor.py").read_text()
    ast.parse(source, feature_version=(3, 7))  # no walrus, no match, no parenthesized withs
    assert "removeprefix" not in source and "removesuffix" not in source


@pytest.mark.slow
def test_on_this_set_up_machine_every_check_passes_and_the_lesson_runs() -> None:
    """The real thing, with this checkout's .venv: about 5 s on an idle laptop."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WORKBOOK_") and k not in ("LAB_PORT", "PORT", "WHEELHOUSE")}
    venv = Path(sys.prefix)
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "doctor.py"), "--venv", str(venv)],
                          env=env, text=True, capture_output=True, timeout=120)
    lines = {line.split()[1]: line for line in done.stdout.splitlines()[3:-2]}
    assert lines["imports"].startswith("PASS"), done.stdout
    assert lines["lesson"].startswith("PASS"), done.stdout
    assert "00_welcome ran in a fresh kernel" in lines["lesson"]
    assert done.returncode == 0, done.stdout
