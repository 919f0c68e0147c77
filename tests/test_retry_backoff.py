"""Retry with backoff: only transient errors, full jitter under a cap, a deadline, injected time."""

from __future__ import annotations

import logging
import random
from unittest import mock

import pytest
import tenacity

from evidence.retry_backoff import (
    ManualClock,
    Overloaded,
    SimulatedTime,
    jitter_call_reduction,
    scripted,
    simulate_contention,
)
from patterns.retry_backoff import Backoff, RetryPolicy, TransientError, retry
from patterns.seed.retry_backoff import retry_with_backoff


def flaky(failures: int, exc: BaseException) -> mock.Mock:
    """A callable that raises exc `failures` times, then answers 'ok'."""
    return mock.Mock(side_effect=[exc] * failures + ["ok"])


def test_seed_retries_a_type_error_and_waits_the_same_for_everyone() -> None:
    call = flaky(2, TypeError("bad argument"))
    with mock.patch("patterns.seed.retry_backoff.time.sleep") as sleep:
        assert retry_with_backoff(max_retries=3)(call)() == "ok"
    assert call.call_count == 3  # a programming error retried twice
    assert [c.args[0] for c in sleep.call_args_list] == [1.0, 2.0]  # no jitter: lockstep


def test_transient_errors_are_retried_until_success() -> None:
    t = ManualClock()
    call = flaky(3, TransientError("busy"))
    assert retry(sleep=t.sleep, clock=t.clock, rng=random.Random(1))(call)() == "ok"
    assert call.call_count == 4
    assert len(t.sleeps) == 3


def test_other_errors_fail_at_once() -> None:
    t = ManualClock()
    call = flaky(1, TypeError("bad argument"))
    with pytest.raises(TypeError):
        retry(sleep=t.sleep, clock=t.clock)(call)()
    assert call.call_count == 1
    assert t.sleeps == []


def test_waits_are_full_jitter_under_an_exponential_ceiling_and_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=3.0)
    rng = random.Random(7)
    for n in range(10):
        ceiling = min(3.0, 0.5 * 2**n)
        delays = [backoff.delay(n, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # the draw really spans the whole range
    assert Backoff(base=0.5, cap=3.0, jitter=False).delay(4, rng) == 3.0


def test_gives_up_after_max_attempts_with_the_original_error() -> None:
    t = ManualClock()
    policy = RetryPolicy(max_attempts=3, deadline=1e9)
    with pytest.raises(TransientError) as info:
        retry(policy, sleep=t.sleep, clock=t.clock)(flaky(5, TransientError("busy")))()
    assert "gave up after 3 attempt(s): attempts exhausted" in info.value.__notes__
    assert len(t.sleeps) == 2


def test_never_sleeps_past_the_deadline() -> None:
    t = ManualClock()
    policy = RetryPolicy(max_attempts=100, deadline=5.0,
                         backoff=Backoff(base=1.0, cap=4.0, jitter=False))
    with pytest.raises(TransientError) as info:
        retry(policy, sleep=t.sleep, clock=t.clock)(flaky(100, TransientError("down")))()
    assert t.now <= 5.0
    assert t.sleeps == [1.0, 2.0]  # the next wait (4 s) would end at 7 s: give up instead
    assert "deadline" in info.value.__notes__[0]


def test_attempts_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    t = ManualClock()
    caplog.set_level(logging.WARNING, logger="patterns.retry")
    retry(sleep=t.sleep, clock=t.clock, rng=random.Random(0))(flaky(2, TransientError("busy")))()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("Mock: attempt 1 failed (TransientError: busy); retrying in ")


def test_same_seed_same_waits() -> None:
    def run() -> list[float]:
        t = ManualClock()
        retry(sleep=t.sleep, clock=t.clock, rng=random.Random(42))(flaky(4, TransientError()))()
        return t.sleeps

    assert run() == run()


def test_simulated_time_runs_clients_in_time_order() -> None:
    sim = SimulatedTime()
    seen: list[tuple[str, float]] = []

    def client(name: str, waits: list[float]) -> str:
        for w in waits:
            sim.sleep(w)
            seen.append((name, sim.clock()))
        return name

    assert sim.run([lambda: client("a", [3, 1]), lambda: client("b", [2, 3])]) == ["a", "b"]
    assert seen == [("b", 2), ("a", 3), ("a", 4), ("b", 5)]


def test_jitter_saves_calls_against_a_recovering_service() -> None:
    plain = simulate_contention(100, jitter=False)
    jittered = simulate_contention(100, jitter=True)
    assert plain.succeeded == jittered.succeeded == 100
    assert jittered.calls < plain.calls
    assert jittered.completion < plain.completion
    assert jitter_call_reduction(100) >= 0.3


def test_simulation_is_deterministic() -> None:
    first, again = (simulate_contention(30, jitter=True, seed=3) for _ in range(2))
    assert first == again


def test_tenacity_with_the_same_policy() -> None:
    sleeps: list[float] = []
    call = flaky(3, Overloaded("busy"))
    wrapped = tenacity.retry(
        retry=tenacity.retry_if_exception_type(Overloaded),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=2.0),
        stop=tenacity.stop_after_attempt(5),
        sleep=sleeps.append,
        reraise=True,
    )(call)
    assert wrapped() == "ok"
    assert call.call_count == 4
    assert all(0 <= s <= min(2.0, 0.1 * 2**i) for i, s in enumerate(sleeps))


def test_a_scripted_call_answers_in_turn_counts_and_carries_its_name() -> None:
    call = scripted("fetch_prices", [Overloaded("503"), "ok"])
    with pytest.raises(Overloaded):
        call("ACME")
    assert call("ACME") == "ok" and call.calls == 2
    t = ManualClock()
    wrapped = retry(sleep=t.sleep, clock=t.clock, rng=random.Random(0))(
        scripted("fetch_prices", [TimeoutError(), "ok"]))
    assert wrapped() == "ok" and wrapped.__qualname__ == "fetch_prices"
