"""Retry with exponential backoff: transient errors only, full jitter, a cap and a deadline."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger("patterns.retry")


class TransientError(Exception):
    """A failure the next attempt may not see: overload, a dropped connection, a timeout."""

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        # Seconds the server asked the client to wait (an HTTP 429/503's Retry-After), if it said.
        self.retry_after = retry_after


# What a caller may retry by default. Never Exception: a TypeError or a 404 fails the same way
# every time, and retrying it only multiplies the load and delays the real error.
TRANSIENT: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class Backoff:
    """Exponential growth from base, capped, with full jitter (a uniform draw in [0, ceiling])."""

    base: float = 0.1
    cap: float = 10.0
    jitter: bool = True

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (0 for the first retry)."""
        return min(self.cap, self.base * 2**retry)

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number `retry`; jitter spreads clients that failed together."""
        ceiling = self.ceiling(retry)
        return rng.uniform(0.0, ceiling) if self.jitter else ceiling


def server_delay(exc: BaseException) -> float | None:
    """The wait the failed call's server asked for (the error's `retry_after`), if any."""
    delay = getattr(exc, "retry_after", None)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        return None  # absent, or not a wait anyone can honour
    return float(delay)


@dataclass(frozen=True)
class RetryPolicy:
    """Which errors to retry, how often, how long to wait between, and when to give up."""

    retry_on: tuple[type[BaseException], ...] = TRANSIENT
    max_attempts: int = 5
    deadline: float = 30.0  # seconds since the first attempt that no wait may cross
    backoff: Backoff = field(default_factory=Backoff)
    respect_retry_after: bool = True  # wait what the server asked for instead of the backoff

    def wait(self, retry: int, exc: BaseException, rng: random.Random) -> tuple[float, str]:
        """The wait before retry number `retry`, and whose it is: 'Retry-After' or 'backoff'."""
        asked = server_delay(exc) if self.respect_retry_after else None
        if asked is not None:  # the server knows when it will be ready; jitter cannot
            return asked, "Retry-After"
        return self.backoff.delay(retry, rng), "backoff"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # unreadable: the caller falls back to its own backoff
    if when.tzinfo is None:  # the obsolete date forms carry no zone; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    # A date already past means "now", never a negative wait.
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def call_with_retry(call: Callable[[], T], policy: RetryPolicy, *, name: str,
                    sleep: Callable[[float], None], clock: Callable[[], float],
                    rng: random.Random, log: logging.Logger = logger) -> T:
    """Call until it succeeds, a non-transient error escapes, or the policy says stop."""
    started = clock()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except policy.retry_on as exc:
            if attempt == policy.max_attempts:
                _give_up(log, name, attempt, exc, "attempts")
                raise
            wait, whose = policy.wait(attempt - 1, exc, rng)
            # Give up now rather than sleep past the deadline only to fail anyway.
            if clock() + wait - started > policy.deadline:
                _give_up(log, name, attempt, exc, "deadline")
                raise
            log.warning("%s: attempt %d failed (%s); retrying in %.3f s%s", name, attempt,
                        _brief(exc), wait, " (Retry-After)" if whose != "backoff" else "")
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")


def retry(policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
          log: logging.Logger = logger) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Retry a function on the policy's transient errors; sleep, clock and rng are injectable."""
    chosen, draw = policy or RetryPolicy(), rng or random.Random()

    def decorator(f: Callable[P, T]) -> Callable[P, T]:
        name = getattr(f, "__qualname__", type(f).__name__)

        @wraps(f)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return call_with_retry(lambda: f(*args, **kwargs), chosen, name=name, sleep=sleep,
                                   clock=clock, rng=draw, log=log)

        return wrapper

    return decorator


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _give_up(log: logging.Logger, name: str, attempt: int, exc: BaseException, why: str) -> None:
    log.error("%s: attempt %d failed (%s); giving up (%s)", name, attempt, _brief(exc), why)
    exc.add_note(f"gave up after {attempt} attempt(s): {why} exhausted")
