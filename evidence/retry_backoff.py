"""Lesson 10's evidence: a manual clock, scripted calls, clients against a recovering service."""

from __future__ import annotations

import heapq
import logging
import math
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from patterns.retry_backoff import (
    Backoff,
    RetryPolicy,
    TransientError,
    parse_retry_after,
    retry,
)


class ManualClock:
    """A clock that only sleep() moves: retries run instantly and their waits are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The time in seconds since the clock was made."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock, without waiting."""
        self.sleeps.append(seconds)
        self.now += seconds


class Scripted:
    """A stand-in remote call: raises or returns each outcome in turn; `.calls` counts calls."""

    def __init__(self, name: str, outcomes: Iterable[object]) -> None:
        self._pending = iter(outcomes)
        self.calls = 0
        # Named like the remote call it stands for, in retry's and tenacity's log lines.
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        outcome = next(self._pending)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def scripted(name: str, outcomes: Iterable[object]) -> Scripted:
    """A Scripted call named `name` that answers with `outcomes`, one per call."""
    return Scripted(name, outcomes)


class Overloaded(TransientError):
    """The service refused the call: it is down, or this time window is full."""


class ClosedUntil:
    """A service down for maintenance until `until` (on `clock`): 503 with Retry-After till then."""

    def __init__(self, clock: Callable[[], float], until: float, *, name: str = "fetch_prices"):
        self._clock = clock
        self.until = until
        self.calls = 0
        self.__name__ = self.__qualname__ = name

    def headers(self) -> dict[str, str]:
        """What the 503 says: whole seconds until it reopens, as a server would round them."""
        return {"Retry-After": str(math.ceil(self.until - self._clock()))}

    def __call__(self) -> str:
        self.calls += 1
        if self._clock() < self.until:
            # The client side of HTTP: the header becomes the error's retry_after.
            raise Overloaded("503", retry_after=parse_retry_after(self.headers()["Retry-After"]))
        return "ok"


def retry_after_trial(until: float = 5.0, *, respect: bool, seed: int = 0,
                      policy: RetryPolicy | None = None) -> tuple[int, float]:
    """One client against a ClosedUntil service: (calls it made, simulated seconds until 'ok')."""
    chosen = policy or RetryPolicy(retry_on=(Overloaded,), max_attempts=50, deadline=60.0,
                                   backoff=Backoff(base=0.1, cap=10.0))
    clock = ManualClock()
    service = ClosedUntil(clock.clock, until)
    quiet = logging.getLogger("patterns.retry.trial")
    quiet.disabled = True
    plan = RetryPolicy(chosen.retry_on, chosen.max_attempts, chosen.deadline, chosen.backoff,
                       respect_retry_after=respect)
    retry(plan, sleep=clock.sleep, clock=clock.clock, rng=random.Random(seed), log=quiet)(service)()
    return service.calls, clock.now


# ---- many clients retrying against a service that is recovering --------------------------------


class SimulatedTime:
    """A virtual clock for client threads: sleep() advances simulated time, never real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, threading.Event]] = []
        self._seq = 0
        self._yielded = threading.Event()
        self._local = threading.local()

    def clock(self) -> float:
        """The simulated time in seconds."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Park the calling client until the simulation reaches now + seconds."""
        wake = self._local.wake
        wake.clear()
        self._push(self.now + max(0.0, seconds), wake)
        self._yielded.set()  # hand control back to the scheduler
        wake.wait()

    def _push(self, at: float, wake: threading.Event) -> None:
        heapq.heappush(self._heap, (at, self._seq, wake))
        self._seq += 1

    def run(self, clients: list[Callable[[], Any]]) -> list[Any]:
        """Run the clients one at a time in simulated-time order; returns each one's result."""
        results: list[Any] = [None] * len(clients)

        def body(i: int, wake: threading.Event) -> None:
            self._local.wake = wake
            wake.wait()
            try:
                results[i] = clients[i]()
            except Exception as exc:  # a client that gave up: its error is its result
                results[i] = exc
            finally:
                self._yielded.set()

        threads = []
        for i in range(len(clients)):
            wake = threading.Event()
            self._push(0.0, wake)
            threads.append(threading.Thread(target=body, args=(i, wake), daemon=True))
        for t in threads:
            t.start()
        # Exactly one thread runs at a time, chosen by (wake time, arrival order): deterministic.
        while self._heap:
            at, _, wake = heapq.heappop(self._heap)
            self.now = at
            self._yielded.clear()
            wake.set()
            self._yielded.wait()
        for t in threads:
            t.join()
        return results


class RecoveringService:
    """Down until `down_until`, then serves at most `capacity` calls per `window` seconds."""

    def __init__(self, clock: Callable[[], float], *, down_until: float = 1.0, capacity: int = 5,
                 window: float = 0.1) -> None:
        self._clock = clock
        self.down_until = down_until
        self.capacity = capacity
        self.window = window
        self.calls = 0
        self.call_times: list[float] = []
        self._served: dict[int, int] = {}

    def call(self) -> str:
        """One request: 'ok', or Overloaded."""
        self.calls += 1
        now = self._clock()
        self.call_times.append(now)
        if now < self.down_until:
            raise Overloaded("service unavailable")
        slot = int(now / self.window)
        if self._served.get(slot, 0) >= self.capacity:
            raise Overloaded("too many requests")
        self._served[slot] = self._served.get(slot, 0) + 1
        return "ok"


@dataclass(frozen=True)
class ContentionResult:
    """What a run of the simulation cost."""

    clients: int
    calls: int
    succeeded: int
    completion: float  # simulated seconds until the last client finished
    call_times: tuple[float, ...] = field(repr=False, default=())

    @property
    def calls_per_client(self) -> float:
        """Average calls each client made."""
        return self.calls / self.clients


# The policy both runs share; only the jitter differs.
SIMULATION_POLICY = RetryPolicy(retry_on=(Overloaded,), max_attempts=40, deadline=120.0,
                                backoff=Backoff(base=0.1, cap=2.0))


def simulate_contention(clients: int = 100, *, jitter: bool, seed: int = 0,
                        policy: RetryPolicy = SIMULATION_POLICY, down_until: float = 1.0,
                        capacity: int = 5, window: float = 0.1) -> ContentionResult:
    """`clients` callers hit a recovering service at once, each retrying with `retry`."""
    sim = SimulatedTime()
    service = RecoveringService(sim.clock, down_until=down_until, capacity=capacity, window=window)
    chosen = RetryPolicy(policy.retry_on, policy.max_attempts, policy.deadline,
                         Backoff(policy.backoff.base, policy.backoff.cap, jitter=jitter))
    quiet = logging.getLogger("patterns.retry.simulation")
    quiet.disabled = True  # thousands of simulated attempts are not worth a log line each
    runs = [retry(chosen, sleep=sim.sleep, clock=sim.clock, rng=random.Random(seed * 100_003 + i),
                  log=quiet)(service.call) for i in range(clients)]
    results = sim.run(runs)
    return ContentionResult(clients=clients, calls=service.calls,
                            succeeded=sum(r == "ok" for r in results), completion=sim.now,
                            call_times=tuple(service.call_times))


def jitter_call_reduction(clients: int = 100, *, seed: int = 0) -> float:
    """The fraction of calls full jitter saves against plain exponential backoff."""
    plain = simulate_contention(clients, jitter=False, seed=seed)
    jittered = simulate_contention(clients, jitter=True, seed=seed)
    return 1 - jittered.calls / plain.calls
