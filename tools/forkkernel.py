"""make test's notebook kernels, forked from one warm process instead of each importing it all.

Every lesson's kernel used to pay the same ~1 s of CPU before its first cell: starting Python,
importing ipykernel and IPython, then Flask, SQLAlchemy, Celery, fakeredis... Under nbval that is
fourteen times per run on a two-core machine. Here one *zygote* process per test run (started
by pytest-xdist's controller, shared by its workers) imports those once; each kernel nbval asks
for is an ``os.fork()`` of it that then runs ``python -m ipykernel_launcher -f <connection file>``
exactly as the usual kernel spec would: same argv, environment, working folder and
``sys.path[0]``, its own session, nothing of the workbook's own code (``patterns``, ``evidence``)
imported before the lesson imports it.

Two roles, one file, standard library only on the client side:

- ``forkkernel.py serve SOCKET``: the zygote. Preloads, then forks one kernel per connection and
  reports its exit status back on that connection. EOF on stdin (the pytest process that started
  it is gone) ends it and every kernel it forked.
- ``forkkernel.py kernel -f FILE``: what the kernel spec runs, so it is the process jupyter_client
  starts, signals and kills. It hands its argv, environment, folder and stdio to the zygote and
  forwards signals to the forked kernel; when it is killed, the zygote kills that kernel.
  With no zygote to talk to it becomes an ordinary kernel (``exec``), so nothing ever depends on it.

Linux only (fork after these imports is not safe on macOS); learners' JupyterLab never uses it,
and make test-browser runs every lesson in ordinary kernels. WORKBOOK_FORK_KERNELS=0 turns it off.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
from typing import Any

ENV_SOCKET = "WORKBOOK_KERNEL_ZYGOTE"
ENV_SWITCH = "WORKBOOK_FORK_KERNELS"
KERNEL_NAME = "workbook-forked"
SOCKET_NAME = "zygote.sock"  # in the zygote's folder, beside kernels/KERNEL_NAME/kernel.json
# Third-party modules the lessons import (plus the kernel itself). Never the workbook's own:
# lesson 08 shows what an import does, and a preloaded module would hide it.
PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "IPython",
    "matplotlib_inline.backend_inline", "flask", "flask.testing", "werkzeug.test",
    "sqlalchemy", "sqlalchemy.orm", "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg", "psycopg", "celery", "celery.app.base",
    "celery.app.task", "celery.canvas", "kombu", "kombu.serialization", "redis", "fakeredis",
    "structlog", "marshmallow", "apispec", "jwt", "tenacity", "flask_caching", "numpy",
)
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2)


# ---- the pytest side: start a zygote, make its kernel spec findable ----

class Zygote:
    """A running zygote and the kernel spec (KERNEL_NAME) that reaches it, in a temporary folder."""

    def __init__(self, preload: bool = True) -> None:
        import subprocess
        import tempfile

        from ipykernel.kernelspec import get_kernel_dict

        self.folder = tempfile.mkdtemp(prefix="workbook-kernels-")
        self.socket = os.path.join(self.folder, SOCKET_NAME)
        spec = get_kernel_dict()  # the kernel nbval's --nbval-current-env starts, argv changed:
        argv = spec["argv"]  # [python, -m, ipykernel_launcher, -f, {connection_file}]
        spec["argv"] = [sys.executable, "-I", "-S", os.path.abspath(__file__), "kernel",
                        *argv[argv.index("ipykernel_launcher") + 1:]]
        os.makedirs(os.path.join(self.folder, "kernels", KERNEL_NAME))
        with open(os.path.join(self.folder, "kernels", KERNEL_NAME, "kernel.json"), "w") as f:
            json.dump(spec, f)
        self.process: subprocess.Popen[bytes] | None
        self.process = process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", self.socket,
             *([] if preload else ["--bare"])], stdin=subprocess.PIPE)
        # It binds before it imports anything (a few ms): wait for that, so that a kernel asked
        # for at once queues there instead of finding no socket and starting the slow way.
        for _ in range(500):
            if os.path.exists(self.socket) or process.poll() is not None:
                break
            time.sleep(0.01)

    @classmethod
    def attach(cls, folder: str) -> Zygote:
        """One that runs already (make test's): start kernels from it; stop() leaves it running."""
        zygote = cls.__new__(cls)
        zygote.folder, zygote.process = folder, None
        zygote.socket = os.path.join(folder, SOCKET_NAME)
        return zygote

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """The variables that make jupyter_client find the kernel spec and it find the zygote."""
        return environ(self.folder, base)

    def stop(self) -> None:
        """EOF on its stdin: it kills the kernels it still runs and leaves; the folder goes."""
        import shutil
        import subprocess

        if self.process is None:  # attached: its owner stops it
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def environ(folder: str, base: dict[str, str]) -> dict[str, str]:
    """The variables that reach the zygote whose kernel spec and socket are in `folder`."""
    paths = [folder, *filter(None, base.get("JUPYTER_PATH", "").split(os.pathsep))]
    return {"JUPYTER_PATH": os.pathsep.join(paths),
            ENV_SOCKET: os.path.join(folder, SOCKET_NAME)}


# ---- the client: the process jupyter_client starts ----

def kernel(args: list[str]) -> None:
    """Ask the zygote for a kernel running `args`, forward signals to it, exit as it exits."""
    path = os.environ.get(ENV_SOCKET)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not path:
            raise OSError("no zygote")
        conn.connect(path)
        request = {"args": args, "env": dict(os.environ), "cwd": os.getcwd()}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reply = _read_line(conn)
        if not reply.startswith("pid "):
            raise OSError(f"the zygote answered {reply!r}")
    except OSError:
        conn.close()
        _exec_plain_kernel(args)
    pid = int(reply.split()[1])
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, lambda signum, _frame: _signal(pid, signum))
    status = _read_line(conn)  # blocks until the kernel exits; a signal handler does not end it
    if not status.startswith("exit "):  # the zygote is gone: take the kernel with us
        _signal(pid, signal.SIGKILL)
        sys.exit(1)
    sys.exit(int(status.split()[1]))


def _exec_plain_kernel(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_SOCKET}
    os.execve(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *args], env)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _read_line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


# ---- the zygote ----

def serve(path: str, bare: bool = False) -> None:
    """Preload, then fork a kernel for each connection on `path` until stdin closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)  # bound before preloading: a client that comes early waits in the backlog
    listener.listen(16)
    if not bare:  # bare: nothing imported ahead (tests of the forking itself)
        preload()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so SIGCHLD wakes the loop
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin, selectors.EVENT_READ, "parent")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    kernels: dict[int, socket.socket] = {}  # pid -> the client's connection
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "parent" and not os.read(sys.stdin.fileno(), 4096):
                    return  # the pytest process that started it is gone (or done)
                if key.data == "child":
                    os.read(wake_r, 4096)
                    _reap(kernels, selector)
                elif key.data == "accept":
                    conn, _ = listener.accept()
                    pid = _fork(conn, listener, kernels)
                    if pid:
                        kernels[pid] = conn
                        selector.register(conn, selectors.EVENT_READ, pid)
                        conn.sendall(f"pid {pid}\n".encode())
                elif isinstance(key.data, int):  # the client closed (was killed): kill its kernel
                    selector.unregister(key.fileobj)
                    _kill(key.data)
    finally:
        for pid in kernels:
            _kill(pid)
        for pid in kernels:  # reaped here: the zombies of an exited zygote may never be
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os.unlink(path)


def preload() -> None:
    """Import what every kernel would: done once here, shared by every fork."""
    # ipykernel sets this before any lesson imports matplotlib; matplotlib reads it on import.
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:  # an optional one missing: the kernel will import (or miss) it itself
            pass
    # Out of the collector's sight: a forked kernel's collections never walk (and so never copy)
    # the memory pages it shares with the zygote.
    gc.collect()
    gc.freeze()


def _fork(conn: socket.socket, listener: socket.socket, kernels: dict[int, socket.socket]) -> int:
    msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    while not msg.endswith(b"\n"):
        chunk = conn.recv(1 << 20)
        if not chunk:
            conn.close()
            return 0
        msg += chunk
    request = json.loads(msg)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    try:  # the child: become `python -m ipykernel_launcher <args>`, started by the client
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        conn.close()
        for other in kernels.values():
            other.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.setsid()  # its own session, as jupyter_client starts kernels
        _run_kernel(request)
    finally:
        os._exit(1)
    return 0  # not reached


def _run_kernel(request: dict[str, Any]) -> None:
    import atexit
    import runpy
    import threading

    env = dict(request["env"])
    zygote_folder = os.path.dirname(env.pop(ENV_SOCKET, ""))
    # JUPYTER_PATH as it was before make test added the folder holding the forked kernel spec.
    jupyter_path = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep)
                    if p and p != zygote_folder]
    env.pop("JUPYTER_PATH", None)
    if jupyter_path:
        env["JUPYTER_PATH"] = os.pathsep.join(jupyter_path)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as `python -m` sets it: the folder it was started in
    sys.argv = ["ipykernel_launcher", *request["args"]]
    code = 0
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    # What the interpreter does on the way out, then leave without the zygote's own cleanup.
    getattr(threading, "_shutdown", lambda: None)()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _reap(kernels: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = kernels.pop(pid, None)
        if conn is not None:
            if _registered(selector, conn):
                selector.unregister(conn)
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()


def _registered(selector: selectors.BaseSelector, conn: socket.socket) -> bool:
    try:
        selector.get_key(conn)
        return True
    except KeyError:
        return False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], bare=sys.argv[3:] == ["--bare"])
    elif sys.argv[1:2] == ["kernel"]:
        kernel(sys.argv[2:])
    else:
        sys.exit("usage: forkkernel.py serve SOCKET [--bare] | forkkernel.py kernel -f FILE")
