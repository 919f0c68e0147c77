"""`make test-wheelhouse` (.ci/run): a wheelhouse installs the workbook with no network at all.

1. `make wheelhouse` for this machine (needs the network: that is why it is not in make test);
2. a copy of the checkout, and `make setup WHEELHOUSE=...` in it inside `unshare -n` (a network
   namespace with only loopback: no route anywhere, no DNS), with this machine's pip and uv
   configuration out of the way (PIP_CONFIG_FILE=/dev/null, UV_NO_CONFIG=1, no PIP_*/UV_*
   variable, an empty uv cache, a scratch HOME);
3. still offline: the package imports from the copy, and lesson 00 passes nbval (stored outputs).
Needs root (unshare -n); says SKIPPED otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "offline"]
LESSON = "notebooks/00_welcome.ipynb"
NO_ROUTE = """
import socket
try:
    socket.create_connection(("pypi.org", 443), timeout=3)
except OSError as exc:
    print(f"no network, as intended: {exc}")
else:
    raise SystemExit("pypi.org answered: the namespace has a network")
"""
IMPORTS = """
import pathlib, patterns, evidence.lab, flask, sqlalchemy, celery, jupyterlab, nbval
where = pathlib.Path(patterns.__file__).parent
assert where.is_relative_to(pathlib.Path.cwd()), where
print(f"imports: patterns from {where.relative_to(pathlib.Path.cwd())} in the copy")
"""


def copy_checkout(target: Path) -> None:
    """The files git knows (tracked, or new and not ignored): no .venv, no workspace/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def clean_env(tmp: Path) -> dict[str, str]:
    """This machine's environment without its pip/uv settings (it points at local wheel folders)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "WORKBOOK_", "VIRTUAL_ENV", "PYTHON", "CONDA"))
           and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # the outer make's VENV=... too
    (tmp / "home").mkdir()
    env.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp / "uv-cache"),
               HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"))
    return env


def step(title: str, command: list[str], **kwargs: object) -> float:
    """Run one step, echoing its output; raise on failure; return its seconds."""
    print(f"-- {title}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def main() -> int:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        print("SKIPPED test-wheelhouse: needs root, unshare and ip (a network namespace)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="workbook-wheelhouse-"))
    try:
        wheels, checkout = tmp / "wheels", tmp / "checkout"
        built = step("make wheelhouse for this machine (network)",
                     [sys.executable, str(ROOT / "tools" / "wheelhouse.py"), str(wheels)])
        size = sum(p.stat().st_size for p in wheels.glob("*.whl"))
        count = len(list(wheels.glob("*.whl")))
        checkout.mkdir()
        copy_checkout(checkout)
        env = clean_env(tmp)
        base = getattr(sys, "_base_executable", sys.executable)
        offline = {"env": env, "cwd": checkout}
        step("no network inside unshare -n", OFFLINE + [base, "-c", NO_ROUTE], **offline)
        installed = step("make setup WHEELHOUSE=... offline, no pip/uv configuration",
                         OFFLINE + ["make", "setup", f"WHEELHOUSE={wheels}", f"PYTHON={base}"],
                         **offline)
        python = str(checkout / ".venv" / "bin" / "python")
        step("import the package (offline)", OFFLINE + [python, "-c", IMPORTS], **offline)
        lesson = step(f"nbval {LESSON} (offline)", OFFLINE + [
            python, "-m", "pytest", "-q", "-p", "no:cacheprovider", LESSON], **offline)
    except subprocess.CalledProcessError as exc:
        print(f"FAILED test-wheelhouse: {' '.join(map(str, exc.cmd))[-300:]} "
              f"exited {exc.returncode}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"test-wheelhouse: {count} wheels, {size / 1e6:.0f} MB built in {built:.0f} s; "
          f"offline make setup {installed:.0f} s; lesson 00 (nbval) {lesson:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
