"""Root pytest configuration: nbval's sanitize file found wherever pytest is started."""

from __future__ import annotations

import gc
import importlib.util
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest

# Names, not imports: patterns.db brings Flask and SQLAlchemy, and pytest-xdist's controller,
# which loads this file before it starts its workers, needs them only at the very end.
ENV_RUN_ID = "WORKBOOK_RUN_ID"
ENV_DATABASE_URL = "WORKBOOK_DATABASE_URL"
ENV_BROKER_URL = "WORKBOOK_BROKER_URL"

ROOT = Path(__file__).parent
# The key under which an xdist worker receives the run id from the controller.
WORKERINPUT_RUN_ID = "workbook_run_id"
# ... and the folder of the run's kernel zygote (tools/forkkernel.py), "" when there is none.
WORKERINPUT_ZYGOTE = "workbook_kernel_zygote"
ZYGOTE_FOLDER = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    # nbval resolves --nbval-sanitize-with against the start directory; pin it to the repo.
    if hasattr(config.option, "nbval_sanitize_with") and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(ROOT / "nbval-sanitize.cfg")
    # One id for the whole run, inherited by every notebook kernel nbval starts. Under
    # pytest-xdist the controller picks it before its workers start and hands it to each one
    # (pytest_configure_node), so all workers and their kernels share it.
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(WORKERINPUT_RUN_ID):
        os.environ[ENV_RUN_ID] = workerinput[WORKERINPUT_RUN_ID]
    else:
        os.environ.setdefault(ENV_RUN_ID, secrets.token_hex(4))
    _fork_kernels(config)


def _fork_kernels(config: pytest.Config) -> None:
    """On Linux, nbval's kernels are forked from one warm process per run (tools/forkkernel.py).

    pytest-xdist's controller starts it and hands its folder to each worker (pytest_configure_node):
    one process imports ipykernel, Flask, SQLAlchemy... once, not once per worker. Without workers,
    pytest starts its own. Only in place of nbval's current-env kernel; WORKBOOK_FORK_KERNELS=0
    turns it off.
    """
    option = config.option
    if (sys.platform != "linux"
            or not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False))
            or not getattr(option, "nbval_current_env", False)):
        return
    forkkernel = _forkkernel()
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a worker: the controller's zygote, or none (it was off)
        folder = workerinput.get(WORKERINPUT_ZYGOTE)
    elif os.environ.get(forkkernel.ENV_SWITCH, "1") == "0":
        return
    else:
        zygote = forkkernel.Zygote()  # starts importing now, while the workers start and collect
        config.stash[ZYGOTE_FOLDER] = folder = zygote.folder
        config.add_cleanup(zygote.stop)
        if getattr(option, "numprocesses", None):  # the controller runs no notebook itself
            return
    if folder:  # nbval in this process starts its kernels from the zygote
        os.environ.update(forkkernel.environ(folder, dict(os.environ)))
        option.nbval_current_env = False
        option.nbval_kernel_name = forkkernel.KERNEL_NAME


def _forkkernel() -> Any:
    """tools/forkkernel.py, loaded once (tools/ is no package)."""
    module = sys.modules.get("forkkernel")
    if module is None:
        path = ROOT / "tools" / "forkkernel.py"
        spec = importlib.util.spec_from_file_location("forkkernel", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["forkkernel"] = module
    return module


def pytest_collection_finish(session: pytest.Session) -> None:
    # What collection imported (Flask, SQLAlchemy, Celery, Hypothesis, Schemathesis, nbformat:
    # about 230,000 objects) lives as long as the process. Frozen, no full collection walks it
    # again; and a young generation of 20,000 instead of 700 objects makes far fewer of them.
    # Measured over make test's two workers: 7.4 s of collector time -> 3.1 s.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: give each worker this run's id."""
    node.workerinput[WORKERINPUT_RUN_ID] = os.environ[ENV_RUN_ID]
    node.workerinput[WORKERINPUT_ZYGOTE] = node.config.stash.get(ZYGOTE_FOLDER, "")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Once per run, after every worker is done: on the controller under xdist, never on a worker
    # (a worker finishing early would drop the schemas and queues the others still use).
    if hasattr(session.config, "workerinput"):
        return
    # nbval stops kernels with SIGKILL, so their exit hooks never drop their scratch schemas.
    from patterns.db import drop_run_schemas, run_id

    url = os.environ.get(ENV_DATABASE_URL)
    if url and url.startswith("postgresql"):
        try:
            drop_run_schemas(url, run_id())
        except Exception as exc:  # cleanup must not turn a green run red; say why instead
            print(f"\nnote: could not drop this run's scratch schemas: {exc}")
    broker = os.environ.get(ENV_BROKER_URL)
    if broker and broker.startswith("redis"):
        try:
            drop_run_queues(broker, run_id())
        except Exception as exc:
            print(f"\nnote: could not remove this run's broker queues: {exc}")


def drop_run_queues(url: str, run: str) -> int:
    """Delete the private Celery queues (and kombu bindings) of this run's test apps."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = [k for pattern in (f"workbook-{run}-*", f"_kombu.binding*.workbook-{run}-*")
                for k in client.scan_iter(match=pattern, count=500)]
        return client.delete(*keys) if keys else 0
    finally:
        client.close()
