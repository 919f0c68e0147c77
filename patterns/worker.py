"""`python -m patterns.worker`: a Celery worker process for its parent's app."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys

# It builds the whole app, so it lives beside patterns.app and patterns.serve: inside the
# background_jobs package, which create_app imports, it would close an import cycle.
from patterns.app import create_app
from patterns.background_jobs.celery_app import get_celery
from patterns.background_jobs.workers import ENV_WORKER_CONFIG


def main(argv: list[str] | None = None) -> int:
    """Build the app from WORKBOOK_WORKER_CONFIG (or the environment) and run a worker on it."""
    parser = argparse.ArgumentParser(prog="python -m patterns.worker")
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork", "threads"])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args(argv)
    config = json.loads(os.environ.get(ENV_WORKER_CONFIG) or "{}")
    app = create_app(config)
    celery_app = get_celery(app)
    queue = celery_app.conf.task_default_queue
    try:
        celery_app.worker_main([
            "worker", f"--pool={args.pool}", f"--concurrency={args.concurrency}",
            f"--loglevel={args.loglevel}", "--without-mingle", "--without-gossip",
            "--without-heartbeat", "-Q", queue, "-n", f"{queue}@%h",
        ])
    finally:
        # The worker has shut down. Spare the interpreter's last garbage collection, which
        # walks every object of the app (numpy, SQLAlchemy, ...): it made stopping ~2 s slower.
        gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
