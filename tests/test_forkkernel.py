"""make test's forked notebook kernels (tools/forkkernel.py) behave as ordinary kernels do."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import forkkernel  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="forked kernels are Linux only")

PROBE = """import json, os, sys
print(json.dumps({"pid": os.getpid(), "path": sys.path, "argv": sys.argv[:2], "cwd": os.getcwd(),
    "own_session": os.getsid(0) == os.getpid(), "main": __name__,
    "jupyter_path": os.environ.get("JUPYTER_PATH"),
    "zygote": "WORKBOOK_KERNEL_ZYGOTE" in os.environ,
    "mplbackend": os.environ.get("MPLBACKEND"), "probe": os.environ.get("PROBE"),
    "patterns": "patterns" in sys.modules, "flask": "flask" in sys.modules}))"""

Kernel = tuple[KernelManager, Any]


@pytest.fixture(scope="module")
def zygote() -> Iterator[forkkernel.Zygote]:
    running = os.environ.get(forkkernel.ENV_SOCKET)
    if running:  # make test's (conftest.py), which the lessons' kernels come from: no second one
        yield forkkernel.Zygote.attach(os.path.dirname(running))
        return
    z = forkkernel.Zygote()
    yield z
    z.stop()


@pytest.fixture
def start(zygote: forkkernel.Zygote, tmp_path: Path) -> Iterator[Callable[..., Kernel]]:
    """Start a kernel from the forked kernel spec, in tmp_path, with or without the zygote."""
    started: list[Kernel] = []

    def run(with_zygote: bool = True) -> Kernel:
        env = {k: v for k, v in os.environ.items()
               if k not in ("JUPYTER_PATH", forkkernel.ENV_SOCKET)}
        env.update({"PROBE": "yes", "JUPYTER_PATH": "/somewhere/else"})
        if with_zygote:
            env.update(zygote.environ(env))
        specs = KernelSpecManager(kernel_dirs=[os.path.join(zygote.folder, "kernels")])
        km = KernelManager(kernel_name=forkkernel.KERNEL_NAME, kernel_spec_manager=specs)
        km.start_kernel(env=env, cwd=str(tmp_path))
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        started.append((km, kc))
        return km, kc

    yield run
    for km, kc in started:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)


def probe(kc: Any) -> dict[str, Any]:
    out: list[str] = []
    reply = kc.execute_interactive(PROBE, timeout=30, output_hook=lambda msg: out.append(
        msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return json.loads("".join(out))


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_forked_kernel_starts_where_and_as_an_ordinary_one_does(
        start: Callable[..., Kernel], tmp_path: Path) -> None:
    forked, ordinary = probe(start()[1]), probe(start(with_zygote=False)[1])
    # The ordinary one is the shim turned into `python -m ipykernel_launcher` (exec): same pid.
    for key in ("path", "cwd", "own_session", "main", "jupyter_path", "zygote", "mplbackend",
                "probe", "patterns"):
        assert forked[key] == ordinary[key], key
    assert forked["argv"][1] == ordinary["argv"][1] == "-f"
    assert forked["cwd"] == str(tmp_path) and forked["jupyter_path"] == "/somewhere/else"
    assert forked["zygote"] is False and forked["patterns"] is False  # the lesson imports it
    assert (forked["flask"], ordinary["flask"]) == (True, False)  # what the fork saves


def test_an_interrupt_reaches_the_forked_kernel(start: Callable[..., Kernel]) -> None:
    km, kc = start()
    msg_id = kc.execute("import time; print('sleeping', flush=True); time.sleep(60)")
    # Only once the cell runs: a kernel between cells ignores SIGINT. A fixed 0.5 s wait lost that
    # race once on a loaded machine (a profiler attached to every process).
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    km.interrupt_kernel()  # SIGINT to the process jupyter_client started: forwarded
    reply = kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "KeyboardInterrupt"


def test_killing_the_kernel_process_kills_the_forked_kernel(start: Callable[..., Kernel]) -> None:
    km, kc = start()
    pid = probe(kc)["pid"]
    assert pid != km.provisioner.process.pid  # type: ignore[union-attr]
    km.shutdown_kernel(now=True)  # as nbval stops a kernel: SIGKILL
    assert gone(pid), "the forked kernel outlived the process that stood for it"


def test_stopping_the_zygote_ends_its_kernels(tmp_path: Path) -> None:
    z = forkkernel.Zygote(preload=False)
    env = {**os.environ, **z.environ(dict(os.environ))}
    specs = KernelSpecManager(kernel_dirs=[os.path.join(z.folder, "kernels")])
    km = KernelManager(kernel_name=forkkernel.KERNEL_NAME, kernel_spec_manager=specs)
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        pid = probe(kc)["pid"]
        assert z.process is not None and _parent(pid) == z.process.pid, "not from this zygote"
        z.stop()
        assert gone(pid) and not os.path.exists(z.folder)
        deadline = time.monotonic() + 10  # and the process jupyter_client holds exits too
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not km.is_alive()
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        z.stop()  # twice is harmless
