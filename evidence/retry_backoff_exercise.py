"""Lesson 10's exercise check: the learner's own retry decorator, run against scripted calls."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from evidence.grading import WrongAnswer, expect, passed
from evidence.retry_backoff import Overloaded
from patterns.retry_backoff import Backoff, RetryPolicy

Retrying = Callable[..., Any]  # retrying(policy, *, sleep, clock, rng) -> decorator
RUNAWAY = 50  # calls (or waits) after which a retry loop is told it does not stop
DRAWS = (0.5, 0.25, 0.75, 0.9, 0.1, 0.6)  # what the scripted rng answers, in turn

# The policies the scenarios hand over: each binds in its own way (attempts, or the deadline).
SHORT = RetryPolicy(retry_on=(Overloaded,), max_attempts=4, deadline=10.0,
                    backoff=Backoff(base=0.05, cap=0.4))
TIGHT = RetryPolicy(retry_on=(Overloaded,), max_attempts=10, deadline=1.0,
                    backoff=Backoff(base=0.1, cap=0.4))


class _Runaway(BaseException):
    """Raised into a retry loop that does not stop; BaseException so `except Exception` lets it."""


class ScriptedRandom(random.Random):
    """A Random whose random() answers DRAWS in turn; uniform(a, b) is a + (b - a) * random()."""

    def __init__(self) -> None:
        super().__init__(0)
        self.draws = 0

    def random(self) -> float:
        value = DRAWS[self.draws % len(DRAWS)]
        self.draws += 1
        return value


@dataclass
class Run:
    """One scenario: the simulated time, the waits, the calls and what reached the caller."""

    call_seconds: float = 0.0  # how long each call to fetch_quote takes on the clock
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)  # when each wait ended
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    raised: list[BaseException] = field(default_factory=list)
    real_sleeps: list[float] = field(default_factory=list)  # time.sleep, which must stay unused
    rng: ScriptedRandom = field(default_factory=ScriptedRandom)
    clock_reads: int = 0
    result: Any = None
    error: BaseException | None = None

    def clock(self) -> float:
        self.clock_reads += 1
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.ends.append(self.now)
        if len(self.sleeps) > RUNAWAY:
            raise _Runaway

    def fetch(self, outcomes: Iterable[object]) -> Callable[..., Any]:
        pending = iter(outcomes)

        def fetch_quote(*args: Any) -> Any:
            self.calls.append(args)
            self.now += self.call_seconds
            if len(self.calls) > RUNAWAY:
                raise _Runaway
            outcome = next(pending)
            if isinstance(outcome, BaseException):
                self.raised.append(outcome)
                raise outcome
            return outcome

        return fetch_quote


@contextmanager
def _no_real_sleep(run: Run) -> Iterator[None]:
    # A retry that calls time.sleep itself would wait for real; record it instead.
    with mock.patch.object(time, "sleep", run.real_sleeps.append):
        yield


def _run(retrying: Retrying, policy: RetryPolicy, outcomes: Iterable[object], *,
         call_seconds: float = 0.0) -> Run:
    """Decorate a scripted fetch_quote with the learner's retrying and call it once."""
    run = Run(call_seconds=call_seconds)
    try:
        decorator = retrying(policy, sleep=run.sleep, clock=run.clock, rng=run.rng)
    except NotImplementedError as exc:
        raise WrongAnswer(f"retrying is not written yet ({exc}): replace the stub's "
                          "`raise NotImplementedError` with your code") from None
    except Exception as exc:
        raise WrongAnswer(f"expected retrying(policy, sleep=..., clock=..., rng=...) to return "
                          f"a decorator; it raised {type(exc).__name__}: {exc}") from None
    expect(callable(decorator), "retrying(policy, sleep=..., clock=..., rng=...) to return a "
           "decorator (a function that takes fetch_quote)", f"yours returned {decorator!r}")
    try:
        wrapped = decorator(run.fetch(outcomes))
    except Exception as exc:
        raise WrongAnswer(f"expected your decorator to take fetch_quote and return the wrapped "
                          f"function; it raised {type(exc).__name__}: {exc}") from None
    expect(callable(wrapped), "your decorator to return the wrapped function",
           f"it returned {wrapped!r}")
    with _no_real_sleep(run):
        try:
            run.result = wrapped("ACME")
        except NotImplementedError as exc:
            raise WrongAnswer(f"retrying is not written yet ({exc}): replace the stub's "
                              "`raise NotImplementedError` with your code") from None
        except _Runaway:
            raise WrongAnswer(f"expected retrying to stop after policy.max_attempts "
                              f"({policy.max_attempts}); yours called fetch_quote "
                              f"{len(run.calls)} times and slept {len(run.sleeps)} times, "
                              "and was still going") from None
        except Exception as exc:
            run.error = exc
    expect(not run.real_sleeps, "every wait through the sleep you were given (the check's "
           "clock does not move otherwise)",
           f"yours called time.sleep {len(run.real_sleeps)} time(s): {_secs(run.real_sleeps)}")
    expect(not run.calls or run.calls[0] == ("ACME",), "fetch_quote called with the caller's "
           "arguments ('ACME',)", f"yours passed {run.calls[0] if run.calls else ()}")
    return run


def _secs(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]" + (" s" if values else "")


def _outcome(run: Run) -> str:
    if run.error is not None:
        return f"raised {type(run.error).__name__}({str(run.error)!r})"
    return f"returned {run.result!r}"


def _straight_through(retrying: Retrying, error: Exception, why: str) -> None:
    run = _run(retrying, SHORT, [error] * (RUNAWAY + 1))
    name = type(error).__name__
    expect(len(run.calls) == 1, f"{name} to reach the caller after 1 call ({why})",
           f"your retrying called fetch_quote {len(run.calls)} times and slept "
           f"{len(run.sleeps)} times: retry only the errors in policy.retry_on")
    expect(run.error is error, f"the {name} itself to reach the caller",
           f"your retrying {_outcome(run)}")


def _jittered_waits(retrying: Retrying) -> None:
    run = _run(retrying, SHORT, [Overloaded("busy"), Overloaded("busy"), 101.5])
    expect(run.error is None and run.result == 101.5,
           "101.5 back after two Overloaded errors and a success",
           f"your retrying {_outcome(run)} after {len(run.calls)} call(s)")
    backoff = SHORT.backoff
    ceilings = [backoff.ceiling(n) for n in range(2)]
    wanted = [c * DRAWS[n] for n, c in enumerate(ceilings)]
    got = run.sleeps
    expect(len(got) == 2, "2 waits, one after each Overloaded, through the sleep given",
           f"your retrying slept {len(got)} time(s): {_secs(got)}")
    expect(not all(math.isclose(w, c) for w, c in zip(got, ceilings, strict=True)),
           f"full-jitter waits, each drawn from rng in [0, ceiling]: {_secs(wanted)}",
           f"your retrying slept the ceilings themselves, {_secs(got)}: without jitter, clients "
           "that failed together retry together (draw rng.uniform(0, ceiling))")
    expect(run.rng.draws > 0, f"waits drawn from the rng you were given: {_secs(wanted)}",
           f"it was never called, and yours slept {_secs(got)}: the random module or a "
           "formula is not the rng the caller (or this check) passes")
    bounds = ", ".join(f"[0, {c:g}]" for c in ceilings)
    expect(all(0 <= w <= c + 1e-12 for w, c in zip(got, ceilings, strict=True)),
           f"each wait within [0, min(cap, base·2^n)] for retry n = 0, 1: {bounds}",
           f"your retrying slept {_secs(got)}")
    expect(all(math.isclose(w, x) for w, x in zip(got, wanted, strict=True)),
           f"waits {_secs(wanted)}: the ceilings {ceilings} times rng's draws {list(DRAWS[:2])}",
           f"your retrying slept {_secs(got)}")


def _gives_up_after_attempts(retrying: Retrying) -> None:
    busy = [Overloaded(f"busy (attempt {n})") for n in range(1, RUNAWAY + 2)]
    run = _run(retrying, SHORT, busy)
    n, calls = SHORT.max_attempts, len(run.calls)
    expect(calls == n, f"fetch_quote called {n} times (policy.max_attempts) while the service "
           f"stays busy", f"your retrying called it {calls} times" + {
               n - 1: ": the first call is an attempt too",
               n + 1: ": max_attempts counts every call, the first one included"}.get(calls, ""))
    expect(len(run.sleeps) == n - 1, f"{n - 1} waits between {n} attempts",
           f"your retrying slept {len(run.sleeps)} times, {_secs(run.sleeps)}"
           + (": the wait after the last attempt only delays the error"
              if len(run.sleeps) == n else ""))
    last = run.raised[-1] if run.raised else None
    first = next((i for i, e in enumerate(run.raised, 1) if e is run.error), None)
    expect(run.error is last, f"the last Overloaded (attempt {n}) to reach the caller",
           f"your retrying {_outcome(run)}" + (
               f", the error of attempt {first}: re-raise the last one" if first else ""))


def _stops_at_the_deadline(retrying: Retrying) -> None:
    deadline = TIGHT.deadline
    run = _run(retrying, TIGHT, [Overloaded("busy")] * (RUNAWAY + 1), call_seconds=0.3)
    late = [(w, end) for w, end in zip(run.sleeps, run.ends, strict=True) if end > deadline + 1e-9]
    total = sum(run.sleeps)
    expect(not late, f"no wait to end past the deadline, {deadline:g} s after the first attempt "
           "(each call here takes 0.3 s)",
           f"your retrying slept {late[0][0]:.3f} s until {late[0][1]:.3f} s" + (
               f" (your waits add up to {total:.2f} s only, but the calls take time too: read "
               "clock() before each wait)" if run.clock_reads <= 1 and total <= deadline else "") +
           ": before sleeping, give up if clock() + wait would pass the start + policy.deadline"
           if late else "")
    expect(isinstance(run.error, Overloaded) and run.error is run.raised[-1],
           "the last Overloaded to reach the caller when the deadline stops the retries",
           f"your retrying {_outcome(run)}")


def check_retrying(retrying: Retrying) -> None:
    """Judge retrying(policy, *, sleep, clock, rng): what it retries, its waits, when it stops."""
    _straight_through(retrying, TypeError("object of type 'int' has no len()"),
                      "a bug fails the same way every time")
    _straight_through(retrying, ConnectionError("reset"),
                      "it is not in this policy's retry_on, (Overloaded,)")
    _jittered_waits(retrying)
    _gives_up_after_attempts(retrying)
    _stops_at_the_deadline(retrying)
    passed("retrying: TypeError and ConnectionError straight through, full-jitter waits from "
           "rng, 4 attempts then the last error, no wait past the deadline")
