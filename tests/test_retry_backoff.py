"""Retry with backoff: only transient errors, full jitter under a cap, a deadline, injected time."""

from __future__ import annotations

import itertools
import json
import logging
import random
import time
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from unittest import mock

import pytest
import tenacity

from evidence.grading import WrongAnswer
from evidence.retry_backoff import (
    ClosedUntil,
    ManualClock,
    Overloaded,
    SimulatedTime,
    jitter_call_reduction,
    retry_after_trial,
    scripted,
    simulate_contention,
)
from evidence.retry_backoff_exercise import check_retrying
from patterns.retry_backoff import (
    Backoff,
    RetryPolicy,
    TransientError,
    parse_retry_after,
    retry,
    server_delay,
)
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


# ---- Retry-After: the server says how long ----------------------------------------------------

NOW = datetime(2015, 10, 21, 7, 27, 30, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("3", 3.0), (" 120 ", 120.0), ("0", 0.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0),        # IMF-fixdate, the form servers must send
    ("Wednesday, 21-Oct-15 07:28:00 GMT", 30.0),    # obsolete RFC 850 form, still accepted
    ("Wed Oct 21 07:28:00 2015", 30.0),             # obsolete asctime form (no zone: GMT)
    ("Wed, 21 Oct 2015 07:20:00 GMT", 0.0),         # a date already past: retry now, not < 0
])
def test_retry_after_reads_delay_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-1", "1.5", "3 s", "Wed, 99 Oct 2015"])
def test_an_unreadable_retry_after_means_no_server_delay(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_only_a_non_negative_number_on_the_error_counts_as_a_server_delay() -> None:
    assert server_delay(Overloaded("503", retry_after=2)) == 2.0
    assert server_delay(Overloaded("503")) is None
    for odd in (-1.0, True, "2"):
        error = Overloaded("503")
        error.retry_after = odd  # type: ignore[assignment]
        assert server_delay(error) is None
    assert server_delay(ConnectionError("reset")) is None


def test_the_servers_retry_after_replaces_the_jittered_backoff(
        caplog: pytest.LogCaptureFixture) -> None:
    t = ManualClock()
    caplog.set_level(logging.WARNING, logger="patterns.retry")
    call = scripted("fetch_prices", [Overloaded("429", retry_after=3.0), Overloaded("503"), "ok"])
    assert retry(sleep=t.sleep, clock=t.clock, rng=random.Random(0))(call)() == "ok"
    assert t.sleeps[0] == 3.0  # exactly what the server asked for
    assert 0 <= t.sleeps[1] <= RetryPolicy().backoff.ceiling(1)  # no header: the backoff again
    assert caplog.records[0].getMessage().endswith("retrying in 3.000 s (Retry-After)")
    assert "Retry-After" not in caplog.records[1].getMessage()


def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    t = ManualClock()
    call = scripted("fetch_prices", [Overloaded("503", retry_after=120.0), "ok"])
    with pytest.raises(Overloaded) as info:
        retry(RetryPolicy(deadline=30.0), sleep=t.sleep, clock=t.clock)(call)()
    assert call.calls == 1 and t.sleeps == []
    assert info.value.__notes__ == ["gave up after 1 attempt(s): deadline exhausted"]


def test_retry_after_can_be_ignored_and_still_counts_attempts() -> None:
    t = ManualClock()
    ignore = RetryPolicy(respect_retry_after=False, backoff=Backoff(base=0.1, jitter=False))
    call = scripted("fetch_prices", [Overloaded("429", retry_after=3.0), "ok"])
    retry(ignore, sleep=t.sleep, clock=t.clock)(call)()
    assert t.sleeps == [0.1]
    t = ManualClock()
    busy = scripted("fetch_prices", itertools.repeat(Overloaded("429", retry_after=1.0)))
    with pytest.raises(Overloaded):
        retry(RetryPolicy(max_attempts=3), sleep=t.sleep, clock=t.clock)(busy)()
    assert busy.calls == 3 and t.sleeps == [1.0, 1.0]  # no sleep after the last attempt


def test_a_service_closed_until_a_time_says_so_in_whole_seconds() -> None:
    t = ManualClock()
    service = ClosedUntil(t.clock, 4.5)
    assert service.headers() == {"Retry-After": "5"}
    with pytest.raises(Overloaded) as info:
        service()
    assert info.value.retry_after == 5.0
    t.sleep(4.5)
    assert service() == "ok" and service.calls == 2


def test_honouring_retry_after_saves_calls_and_ends_when_the_service_reopens() -> None:
    for seed in range(5):
        calls, done = retry_after_trial(5.0, respect=True, seed=seed)
        assert (calls, done) == (2, 5.0)
        ignoring, later = retry_after_trial(5.0, respect=False, seed=seed)
        assert ignoring >= 3 * calls and later > done


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


def test_tenacity_honours_retry_after_through_wait_exception_and_stops_before_the_delay() -> None:
    sleeps: list[float] = []
    jitter = tenacity.wait_random_exponential(multiplier=0.1, max=2.0)

    def wait(state: tenacity.RetryCallState) -> float:
        asked = server_delay(state.outcome.exception()) if state.outcome else None
        return asked if asked is not None else jitter(state)

    call = scripted("fetch_prices", [Overloaded("429", retry_after=3.0), "ok"])
    wrapped = tenacity.retry(retry=tenacity.retry_if_exception_type(Overloaded), wait=wait,
                             stop=tenacity.stop_before_delay(30), sleep=sleeps.append,
                             reraise=True)(call)
    assert wrapped() == "ok" and sleeps == [3.0]
    too_long = scripted("fetch_prices", [Overloaded("429", retry_after=60.0), "ok"])
    with pytest.raises(Overloaded):  # stop_before_delay: a wait that would cross 30 s stops it
        tenacity.retry(retry=tenacity.retry_if_exception_type(Overloaded), wait=wait,
                       stop=tenacity.stop_before_delay(30), sleep=sleeps.append,
                       reraise=True)(too_long)()
    assert too_long.calls == 1 and sleeps == [3.0]


def test_a_scripted_call_answers_in_turn_counts_and_carries_its_name() -> None:
    call = scripted("fetch_prices", [Overloaded("503"), "ok"])
    with pytest.raises(Overloaded):
        call("ACME")
    assert call("ACME") == "ok" and call.calls == 2
    t = ManualClock()
    wrapped = retry(sleep=t.sleep, clock=t.clock, rng=random.Random(0))(
        scripted("fetch_prices", [TimeoutError(), "ok"]))
    assert wrapped() == "ok" and wrapped.__qualname__ == "fetch_prices"


# --- the exercise: the learner's own retry decorator, judged by check_retrying ---


def reference_retrying(policy, *, sleep, clock, rng):
    """The notebook's answer."""
    def decorator(fetch):
        @wraps(fetch)
        def wrapper(*args, **kwargs):
            started = clock()
            for attempt in range(policy.max_attempts):
                try:
                    return fetch(*args, **kwargs)
                except policy.retry_on:
                    if attempt == policy.max_attempts - 1:
                        raise
                    ceiling = min(policy.backoff.cap, policy.backoff.base * 2 ** attempt)
                    wait = rng.uniform(0, ceiling)
                    if clock() + wait - started > policy.deadline:
                        raise
                    sleep(wait)
        return wrapper
    return decorator


def while_loop_retrying(policy, *, sleep, clock, rng):
    """Correct, written differently: a while loop, Backoff.delay, a give-up time, `raise last`."""
    def decorator(fetch):
        def wrapper(*args, **kwargs):
            give_up_at = clock() + policy.deadline
            retries = 0
            while True:
                try:
                    return fetch(*args, **kwargs)
                except Exception as exc:
                    if not isinstance(exc, policy.retry_on):
                        raise
                    last = exc
                if retries + 1 >= policy.max_attempts:
                    raise last
                wait = policy.backoff.delay(retries, rng)
                if clock() + wait > give_up_at:
                    raise last
                sleep(wait)
                retries += 1
        return wrapper
    return decorator


def library_retrying(policy, *, sleep, clock, rng):
    """Correct by delegation: the module's own retry with the policy given."""
    return retry(policy, sleep=sleep, clock=clock, rng=rng)


def mistaken_retrying(*, catch: tuple[type[BaseException], ...] | None = None, jitter: bool = True,
                      attempts: int = 0, sleep_after_last: bool = False, deadline: str = "wait",
                      draw: str = "rng", reraise: str = "last", sleeper: str = "given"):
    """A learner's loop with one mistake switched on (each knob's default is the right way)."""
    def retrying(policy, *, sleep, clock, rng):
        def decorator(fetch):
            def wrapper(*args, **kwargs):
                started, first, latest, waited = clock(), None, None, 0.0
                n = policy.max_attempts + attempts
                for attempt in range(n):
                    if deadline == "before attempt" and clock() - started > policy.deadline:
                        break
                    try:
                        return fetch(*args, **kwargs)
                    except catch or policy.retry_on as exc:  # noqa: B030 (a tuple either way)
                        first, latest = first or exc, exc
                        last = attempt == n - 1
                        if last and not sleep_after_last:
                            break
                        ceiling = min(policy.backoff.cap, policy.backoff.base * 2 ** attempt)
                        r = rng.random() if draw == "rng" else random.random()
                        wait = ceiling * r if jitter else ceiling
                        if deadline == "wait" and clock() + wait - started > policy.deadline:
                            break
                        if deadline == "sum" and waited + wait > policy.deadline:
                            break
                        waited += wait
                        (sleep if sleeper == "given" else time.sleep)(wait)
                        if last:
                            break
                if reraise == "first":
                    raise first
                if reraise == "last":
                    raise latest
                return None
            return wrapper
        return decorator
    return retrying


def test_the_retry_check_passes_correct_loops_written_differently(
        capsys: pytest.CaptureFixture[str]) -> None:
    logging.disable(logging.ERROR)  # the module's retry logs every attempt
    try:
        for answer in (reference_retrying, while_loop_retrying, library_retrying):
            check_retrying(answer)
            assert capsys.readouterr().out.startswith("✓ retrying: TypeError and ConnectionError")
    finally:
        logging.disable(logging.NOTSET)


def test_the_retry_check_passes_the_notebook_answer(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    exec(exercise_cell()["source"], namespace)
    check_retrying(namespace["retrying"])
    assert "✓ retrying" in capsys.readouterr().out


def exercise_cell() -> dict:
    path = Path(__file__).parents[1] / "notebooks" / "10_retry_backoff.ipynb"
    cells = json.loads(path.read_text())["cells"]
    cell = next(c for c in cells if "solution" in c["metadata"].get("tags", []))
    return {"source": "".join(cell["source"]), "stub": cell["metadata"]["workbook"]["stub"]}


def test_the_retry_check_rejects_the_notebook_stub_and_an_empty_body() -> None:
    namespace: dict[str, object] = {}
    exec(exercise_cell()["stub"], namespace)
    with pytest.raises(WrongAnswer, match="retrying is not written yet"):
        check_retrying(namespace["retrying"])

    def empty(policy, *, sleep, clock, rng):
        pass

    with pytest.raises(WrongAnswer, match=r"to return a decorator .*; yours returned None"):
        check_retrying(empty)


def default_policy_retrying(policy, *, sleep, clock, rng):
    """Lesson 10's old answer: the library with its default retry_on and deadline."""
    return retry(RetryPolicy(max_attempts=4), sleep=sleep, clock=clock, rng=rng)


@pytest.mark.parametrize("answer, message", [
    (default_policy_retrying,
     r"expected ConnectionError to reach the caller after 1 call \(it is not in this policy's "
     r"retry_on, \(Overloaded,\)\); your retrying called fetch_quote 4 times"),
    (mistaken_retrying(catch=(Exception,)),
     r"expected TypeError to reach the caller after 1 call .*; your retrying called fetch_quote "
     r"4 times and slept 3 times: retry only the errors in policy.retry_on"),
    (mistaken_retrying(jitter=False),
     r"expected full-jitter waits, each drawn from rng in \[0, ceiling\]: \[0.025, 0.025\] s; "
     r"your retrying slept the ceilings themselves, \[0.05, 0.1\] s"),
    (mistaken_retrying(draw="random module"),
     r"expected waits drawn from the rng you were given: .*; it was never called"),
    (mistaken_retrying(sleeper="time.sleep"),
     r"expected every wait through the sleep you were given .*; yours called time.sleep 2 time"),
    (mistaken_retrying(sleep_after_last=True),
     r"expected 3 waits between 4 attempts; your retrying slept 4 times, .*: the wait after the "
     r"last attempt only delays the error"),
    (mistaken_retrying(attempts=-1),
     r"expected fetch_quote called 4 times \(policy.max_attempts\) while the service stays busy; "
     r"your retrying called it 3 times: the first call is an attempt too"),
    (mistaken_retrying(attempts=+1),
     r"your retrying called it 5 times: max_attempts counts every call"),
    (mistaken_retrying(reraise="none"),
     r"expected the last Overloaded \(attempt 4\) to reach the caller; your retrying returned "
     r"None"),
    (mistaken_retrying(reraise="first"),
     r"your retrying raised Overloaded\('busy \(attempt 1\)'\), the error of attempt 1: re-raise "
     r"the last one"),
    (mistaken_retrying(deadline="none"),
     r"expected no wait to end past the deadline, 1 s after the first attempt .*; your retrying "
     r"slept 0.\d+ s until 1.\d+ s: before sleeping, give up"),
    (mistaken_retrying(deadline="before attempt"),
     r"expected no wait to end past the deadline"),
    (mistaken_retrying(deadline="sum"),
     r"your waits add up to 0.\d+ s only, but the calls take time too: read clock\(\) before"),
])
def test_the_retry_check_explains_each_wrong_loop(answer, message: str) -> None:
    logging.disable(logging.ERROR)
    try:
        with pytest.raises(WrongAnswer, match=message):
            check_retrying(answer)
    finally:
        logging.disable(logging.NOTSET)
