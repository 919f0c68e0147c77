"""`make doctor`: is this machine ready for the workbook? One line per check, then a verdict.

Standard library only, and runs on Python 3.7 and later: it must speak before `.venv` exists, and
on the too-old Python it is there to diagnose. What needs the workbook's dependencies (imports,
one lesson, the real services) runs in `.venv`'s own Python, as a subprocess. The block it prints
is meant to be pasted to a trainer: no secrets (URLs are masked), home shown as ~.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
MINIMUM = (3, 11)
LESSON = "notebooks/00_welcome.ipynb"
SERVICE_VARIABLES = ("WORKBOOK_DATABASE_URL", "WORKBOOK_REDIS_URL", "WORKBOOK_BROKER_URL")
DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "amqp": 5672, "pyamqp": 5672}
GB = 1024**3
SETUP_NEEDS = 1.5 * GB  # .venv (~555 MB), uv's cache of the wheels (~300 MB), room to work
INDEX_URL = "https://pypi.org/simple/uv/"


class Check(NamedTuple):
    status: str  # PASS, WARN, FAIL or SKIP
    name: str
    detail: str


def home(text: str) -> str:
    """A path as a trainer may see it: the home folder as ~."""
    user_home = str(Path.home())
    return text.replace(user_home, "~") if user_home != "/" else text


# --- the machine ----------------------------------------------------------------------------------


def newer_pythons() -> list[str]:
    """Pythons >= 3.11 on PATH under their versioned names (python3.13, python3.12, ...)."""
    return [name for name in ("python3.13", "python3.12", "python3.11") if shutil.which(name)]


def check_python(version: tuple[int, ...], executable: str, venv_ok: bool = False,
                 found: list[str] | None = None) -> Check:
    """The Python `make setup` builds .venv with (PYTHON, default python3)."""
    shown = ".".join(str(part) for part in version[:3])
    need = ".".join(str(part) for part in MINIMUM)
    if tuple(version[:2]) >= MINIMUM:
        return Check("PASS", "python", f"{shown} ({home(executable)}); {need} or newer is needed")
    found = newer_pythons() if found is None else found
    if found:
        how = (f"you have {found[0]}: make setup PYTHON={found[0]} "
               f"(and make doctor PYTHON={found[0]})")
    else:
        how = ("get one from https://www.python.org/downloads/ (macOS, Windows+WSL), "
               "'brew install python@3.12', 'sudo apt install python3.12' or pyenv "
               "(https://github.com/pyenv/pyenv), then make setup PYTHON=python3.12")
    status = "WARN" if venv_ok else "FAIL"
    later = " (.venv works; this matters when make setup rebuilds it)" if venv_ok else ""
    return Check(status, "python",
                 f"{shown} ({home(executable)}) is older than {need}{later}: {how}")


def check_venv_module(venv_exists: bool) -> Check | None:
    """`python -m venv` needs ensurepip, which Debian and Ubuntu ship apart (python3-venv)."""
    if venv_exists:
        return None
    import importlib.util

    if importlib.util.find_spec("venv") and importlib.util.find_spec("ensurepip"):
        return Check("PASS", "venv module", "python -m venv is available to create .venv")
    return Check("FAIL", "venv module", "python -m venv cannot create .venv here (no ensurepip): "
                 "on Debian/Ubuntu, sudo apt install python3-venv (or python3.12-venv)")


def check_make() -> Check:
    """GNU make runs every target (the Makefile is POSIX: Linux, macOS, or WSL on Windows)."""
    make = shutil.which("make")
    if not make:
        return Check("FAIL", "make", "not found: macOS 'xcode-select --install'; "
                     "Debian/Ubuntu 'sudo apt install make'; Windows: use WSL")
    try:
        said = subprocess.run([make, "--version"], capture_output=True, text=True, timeout=10)
        first = (said.stdout.splitlines() or ["make (version unknown)"])[0]
    except (OSError, subprocess.SubprocessError):
        first = "make (version unknown)"
    return Check("PASS", "make", first)


def check_disk(free: int, venv_exists: bool, where: str) -> Check:
    """Free space where the checkout (and so .venv) lives."""
    need = SETUP_NEEDS if not venv_exists else 0.3 * GB
    text = f"{free / GB:.1f} GB free in {home(where)}"
    if free < need:
        return Check("FAIL", "disk", f"{text}; {'make setup needs' if not venv_exists else 'keep'} "
                     f"at least {need / GB:.1f} GB: free some space")
    if free < 2 * need:
        return Check("WARN", "disk", f"{text}; tight (about {need / GB:.1f} GB is needed)")
    return Check("PASS", "disk", f"{text}" + ("; make setup needs about 1.5 GB"
                                                  if not venv_exists else ""))


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (as the servers bind: SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_port(target: str, variable: str, raw: str, host: str = "127.0.0.1") -> Check:
    """The port a make target will listen on; a busy one says how to choose another."""
    name = f"port {raw}"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        return Check("FAIL", name, f"{variable}={raw} is not a port number: "
                     f"make {target} {variable}=8890")
    port = int(raw)
    if port_free(host, port):
        return Check("PASS", name, f"free for make {target} ({variable}={port})")
    return Check("WARN", name, f"busy: make {target} would stop with one line; stop what holds "
                 f"it, or choose another: make {target} {variable}={port + 1}")


# --- before .venv: where make setup gets the wheels -----------------------------------------------


def this_target() -> str:
    """This machine as a wheelhouse target: 'linux x86_64 3.11' (see tools/wheelhouse.py)."""
    system = {"Darwin": "macos", "Linux": "linux"}.get(platform.system(), platform.system().lower())
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "arm64" if system == "macos" else "aarch64"}.get(
        machine, machine)
    if system == "macos" and machine == "aarch64":
        machine = "arm64"
    return f"{system} {machine} {sys.version_info[0]}.{sys.version_info[1]}"


def check_wheelhouse(folder: str, target: str | None = None) -> Check:
    """A wheelhouse handed out by a trainer: does it hold this machine's target?"""
    target = target or this_target()
    path = Path(folder).expanduser()
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return Check("FAIL", "wheelhouse", f"{home(str(path))} has no manifest.json: "
                     "is it the folder make wheelhouse wrote?")
    try:
        found = json.loads(manifest.read_text())
        targets = [t["target"] for t in found["targets"]]
    except (ValueError, KeyError, TypeError):
        return Check("FAIL", "wheelhouse", f"{home(str(manifest))} is not a wheelhouse manifest")
    lock = hashlib.sha256((ROOT / "constraints.txt").read_bytes()).hexdigest()
    if found.get("constraints_sha256", lock) != lock:
        return Check("FAIL", "wheelhouse", f"{home(str(path))} was built from another "
                     "constraints.txt than this checkout's: update the checkout to the trainer's, "
                     "or rebuild the wheelhouse (make wheelhouse)")
    if target not in targets:
        return Check("FAIL", "wheelhouse", f"{home(str(path))} holds {', '.join(targets)}, "
                     f"not this machine ({target}): ask for a wheelhouse with TARGETS=\"{target}\"")
    return Check("PASS", "wheelhouse", f"{home(str(path))} holds this machine's target ({target}): "
                 "make setup will install from it without the network")


def check_index(url: str = INDEX_URL, timeout: float = 5) -> Check:
    """make setup downloads about 135 wheels: can this machine reach the package index?"""
    try:
        urllib.request.urlopen(url, timeout=timeout).close()
    except Exception as exc:  # any failure means the same thing to a learner
        reason = getattr(exc, "reason", exc)
        return Check("WARN", "network", f"{urllib.parse.urlsplit(url).netloc} not reached "
                     f"({reason}): make setup needs it (or a pip mirror, or a trainer's wheelhouse:"
                     " make setup WHEELHOUSE=folder)")
    return Check("PASS", "network", f"{urllib.parse.urlsplit(url).netloc} reached: make setup "
                 "can download the wheels (about 120 MB)")


# --- .venv and what runs in it --------------------------------------------------------------------


def stamp_fresh(venv: Path) -> bool:
    """The Makefile's stamp is newer than the dependency files (else make rebuilds .venv)."""
    stamp = venv / ".installed-stamp"
    if not stamp.exists():
        return False
    built = stamp.stat().st_mtime
    return all((ROOT / name).stat().st_mtime <= built for name in ("pyproject.toml",
                                                                    "constraints.txt"))


def setup_plan(venv: Path, python: str) -> str:
    """What `make setup` will do on this machine, in one line."""
    source = (f"the wheelhouse {os.environ['WHEELHOUSE']}" if os.environ.get("WHEELHOUSE")
              else "the package index")
    return (f"not set up yet: make setup will create {venv.name} with {home(python)}, install uv, "
            f"then the locked dependencies (constraints.txt, about 150 wheels from {source}, "
            "about 555 MB) and this checkout in editable mode: about 30 s on a good connection")


def probe(venv: Path, *args: str) -> list[str]:
    """A check run by .venv's Python (tools/doctor_probe.py): it has the dependencies."""
    return [str(venv / "bin" / "python"), str(ROOT / "tools" / "doctor_probe.py"), *args]


def run_json(command: list[str], timeout: float, **kwargs: object) -> tuple[dict | None, str]:
    """Run a probe that prints one JSON object; (that object, or None and what went wrong)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              **kwargs)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired:
        return None, f"no answer in {timeout:.0f} s"
    except OSError as exc:
        return None, str(exc)
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        try:
            return json.loads(lines[-1]), ""
        except ValueError:
            pass
    said = (done.stderr.strip().splitlines() or lines or [f"exit status {done.returncode}"])[-1]
    return None, said


def check_venv(venv: Path) -> Check:
    python = venv / "bin" / "python"
    fresh = stamp_fresh(venv)
    try:
        said = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                              capture_output=True, text=True, timeout=20)
        version = said.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    if not version:
        return Check("FAIL", "venv", f"{venv.name}/bin/python does not run (moved, or its Python "
                     f"removed?): make clean && make setup")
    where = home(str(venv)) if venv.is_absolute() else venv.name
    if not fresh:
        return Check("WARN", "venv", f"{where}: Python {version}, but pyproject.toml or "
                     "constraints.txt changed since it was built: the next make target updates it"
                     " (about 30 s; make setup now)")
    return Check("PASS", "venv", f"{where}: Python {version}, built from the current lock")


def check_imports(venv: Path) -> Check:
    found, error = run_json(probe(venv, "imports", str(ROOT / "constraints.txt")), timeout=60,
                            cwd=tempfile.gettempdir())
    if found is None:
        return Check("FAIL", "imports",
                     f"the import probe failed: {error}: make clean && make setup")
    if found["missing"]:
        return Check("FAIL", "imports", f"cannot import {', '.join(found['missing'])}: "
                     "make clean && make setup")
    origin = Path(found["patterns"] or "").resolve()
    if ROOT not in origin.parents:
        return Check("FAIL", "imports", f"patterns is imported from {home(str(origin.parent))}, "
                     "not this checkout (another clone installed?): make clean && make setup")
    if found["wrong"]:
        shown = ", ".join(found["wrong"][:3]) + (" ..." if len(found["wrong"]) > 3 else "")
        return Check("WARN", "imports", f"{len(found['wrong'])} packages differ from "
                     f"constraints.txt: {shown}: make clean && make setup")
    versions = ", ".join(f"{k} {v}" for k, v in found["versions"].items())
    pinned = f"; {found['pinned']} packages at their locked versions" if found["pinned"] else ""
    return Check("PASS", "imports", f"{versions}; patterns from this checkout{pinned}")


def start_lesson(venv: Path, lesson: Path) -> subprocess.Popen[str]:
    """Start one short lesson in a fresh kernel of .venv (it runs while the other checks do)."""
    return subprocess.Popen(probe(venv, "lesson", str(lesson)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir())


def lesson_check(found: dict | None, error: str, name: str) -> Check:
    """The lesson's run, as one line."""
    if found is None:
        return Check("FAIL", "lesson", f"{name} could not run: {error}")
    if "crash" in found:
        return Check("FAIL", "lesson", f"{name}: the kernel did not run it: {found['crash']}")
    if found["errors"]:
        return Check("FAIL", "lesson", f"{name}: {found['errors'][0]}"
                     + (f" (and {len(found['errors']) - 1} more)" if len(found["errors"]) > 1
                        else ""))
    if Path(found["kernel_prefix"]).resolve() != Path(found["prefix"]).resolve():
        return Check("FAIL", "lesson", f"{name} ran in {home(found['kernel_prefix'])}, not .venv:"
                     " a 'python3' kernelspec of yours wins (jupyter kernelspec list; remove it)")
    return Check("PASS", "lesson", f"{name} ran in a fresh kernel of .venv in "
                 f"{found['seconds']:.1f} s, no errors")


def finish_lesson(process: subprocess.Popen[str], name: str, timeout: float = 90) -> Check:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return lesson_check(None, f"not finished in {timeout:.0f} s", name)
    lines = out.strip().splitlines()
    if process.returncode == 0 and lines:
        try:
            return lesson_check(json.loads(lines[-1]), "", name)
        except ValueError:
            pass
    said = (err.strip().splitlines() or lines or [f"exit status {process.returncode}"])[-1]
    return lesson_check(None, said, name)


# --- the real services, when the variables name them ----------------------------------------------


def mask(url: str) -> str:
    """A URL with its password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


def scheme(url: str) -> str:
    return urllib.parse.urlsplit(url).scheme.split("+")[0]


def check_tcp(variable: str, url: str, timeout: float = 3) -> Check:
    """Before .venv: does anything answer at the URL's host and port?"""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or DEFAULT_PORTS.get(scheme(url))
    if not parts.hostname or not port:
        return Check("FAIL", variable, f"{mask(url)}: no host and port to reach")
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        return Check("FAIL", variable, f"{mask(url)}: nothing answers at {parts.hostname}:{port} "
                     f"({exc.strerror or exc}): start it, or unset {variable}")
    return Check("PASS", variable, f"{mask(url)}: {parts.hostname}:{port} answers "
                 "(TCP only: the full check needs .venv)")


def check_services(environ: dict[str, str], venv: Path | None) -> list[Check]:
    """Each real service a WORKBOOK_* variable names, reached with the workbook's own client."""
    named = [v for v in SERVICE_VARIABLES if environ.get(v)]
    if not named:
        return [Check("SKIP", "services", "no WORKBOOK_*_URL set: the lessons use the embedded "
                      "SQLite, fakeredis and in-memory broker, which need nothing running")]
    if venv is None:
        return [check_tcp(v, environ[v]) for v in named]
    found, error = run_json(probe(venv, "services", *named),
                            timeout=30, env=environ, cwd=tempfile.gettempdir())
    if found is None:
        return [Check("FAIL", v, f"{mask(environ[v])}: the probe failed: {error}") for v in named]
    checks = []
    for variable in named:
        status, said = found[variable]
        fix = "" if status == "PASS" else f": start the service or fix the URL, or unset {variable}"
        checks.append(Check(status, variable, f"{mask(environ[variable])}: {said}{fix}"))
    return checks


# --- the report -----------------------------------------------------------------------------------


def describe_checkout() -> str:
    """The commit a learner runs, and whether they changed tracked files."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cs"],
                              capture_output=True, text=True, timeout=5).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                  "--untracked-files=no"], capture_output=True, text=True,
                                 timeout=5).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return f"{home(str(ROOT))} (no git)"
    edits = f", {len(changed)} tracked files changed" if changed else ""
    return f"{home(str(ROOT))} at {head or 'no commit'}{edits}"


def describe_system() -> str:
    """The operating system as a person names it: 'macOS 14.5 arm64', 'Debian GNU/Linux 12'."""
    if platform.system() == "Darwin":
        return f"macOS {platform.mac_ver()[0]} {platform.machine()}"
    try:
        with open("/etc/os-release") as release:
            fields = dict(line.rstrip("\n").split("=", 1) for line in release if "=" in line)
        name = fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        name = ""
    return f"{name or platform.system()} ({platform.system()} {platform.release()}) " \
           f"{platform.machine()}"


def verdict(checks: list[Check]) -> tuple[str, int]:
    """One line and the exit status: any FAIL is not ready."""
    failed = [c.name for c in checks if c.status == "FAIL"]
    warned = [c.name for c in checks if c.status == "WARN"]
    if failed:
        return (f"NOT READY: {len(failed)} check(s) failed ({', '.join(failed)}): each FAIL line "
                "says what to do; then make doctor again"), 1
    if warned:
        return f"READY, with {len(warned)} warning(s) ({', '.join(warned)}): read the WARN lines", 0
    return "READY: make lab opens the lessons", 0


def line(check: Check) -> str:
    return f"{check.status:<4} {check.name:<13} {check.detail}"


def run(venv: Path, environ: dict[str, str], lesson: Path, out: object = None) -> int:
    """Every check, printed as it is known; returns the exit status."""
    started = time.perf_counter()
    emit = (lambda text: print(text, flush=True)) if out is None else out  # type: ignore[assignment]
    emit("---- make doctor: copy from here to the end, and paste it to your trainer ----")
    emit(f"workbook      {describe_checkout()}")
    emit(f"system        {describe_system()}")
    venv_exists = (venv / "bin" / "python").exists()
    lesson_run = start_lesson(venv, lesson) if venv_exists else None
    checks: list[Check] = []

    def add(check: Check | None) -> None:
        if check is not None:
            checks.append(check)
            emit(line(check))

    add(check_python(tuple(sys.version_info), sys.executable, venv_ok=venv_exists))
    add(check_venv_module(venv_exists))
    add(check_make())
    add(check_disk(shutil.disk_usage(ROOT).free, venv_exists, str(ROOT)))
    add(check_port("lab", "LAB_PORT", environ.get("LAB_PORT") or "8888"))
    add(check_port("serve", "PORT", environ.get("PORT") or "5050",
                   host=environ.get("HOST") or "127.0.0.1"))
    if not venv_exists or not stamp_fresh(venv):
        wheelhouse = environ.get("WHEELHOUSE")
        add(check_wheelhouse(wheelhouse) if wheelhouse else check_index())
    if venv_exists:
        add(check_venv(venv))
        add(check_imports(venv))
    else:
        add(Check("SKIP", "venv", setup_plan(venv, sys.executable)))
    for check in check_services(environ, venv if venv_exists else None):
        add(check)
    if lesson_run is not None:
        add(finish_lesson(lesson_run, lesson.stem))
    else:
        add(Check("SKIP", "lesson", f"{lesson.stem} runs once .venv exists (make setup)"))
    said, status = verdict(checks)
    emit(f"verdict       {said} ({time.perf_counter() - started:.1f} s)")
    emit("---- end of make doctor ----")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=os.environ.get("VENV") or ".venv",
                        help="the virtual environment to check (make's VENV, default .venv)")
    parser.add_argument("--lesson", default=LESSON, help="the short lesson to execute")
    args = parser.parse_args(argv)
    venv = Path(args.venv)
    venv = venv if venv.is_absolute() else ROOT / venv
    lesson = Path(args.lesson)
    return run(venv, dict(os.environ), lesson if lesson.is_absolute() else ROOT / lesson)


if __name__ == "__main__":
    sys.exit(main())
