"""Which real services answer: tests, the bench and the setup check skip with a reason when not."""

from __future__ import annotations

import os
import socket

ENV_REAL_SERVICES = "WORKBOOK_REAL_SERVICES"


def service_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something listens at host:port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def real_services() -> bool:
    """True under `make test-real`."""
    return os.environ.get(ENV_REAL_SERVICES) == "1"
