"""One way to time things: the median of repeated runs, with the clock injected."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]


def median_seconds(fn: Callable[[], Any], repeat: int = 5, *, clock: Clock = time.perf_counter,
                   setup: Callable[[], Any] | None = None) -> float:
    """The median wall time of fn over repeat runs (the median shrugs off a noisy neighbour)."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    samples = []
    for _ in range(repeat):
        if setup is not None:  # what each run needs first (say, a cold cache), not timed
            setup()
        started = clock()
        fn()
        samples.append(clock() - started)
    return statistics.median(samples)


def median_ms(fn: Callable[[], Any], repeat: int = 5, *, clock: Clock = time.perf_counter,
              setup: Callable[[], Any] | None = None) -> float:
    """median_seconds in milliseconds."""
    return median_seconds(fn, repeat, clock=clock, setup=setup) * 1000


def interleaved_medians(fns: Sequence[Callable[[], Any]], repeat: int = 5, *,
                        clock: Clock = time.perf_counter) -> list[float]:
    """The median seconds of each fn, timed in turns (a, b, a, b...), not one after the other."""
    # Sub-millisecond runs timed back to back meet different neighbours: a test worker busy
    # during the first batch only makes a 2x ratio read 10x. In turns, both meet the same load.
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            started = clock()
            fn()
            times.append(clock() - started)
    return [statistics.median(times) for times in samples]


@dataclass(frozen=True)
class Ratio:
    """Two timings of the same result, the slow way and the fast way."""

    slow: float
    fast: float

    @property
    def speedup(self) -> float:
        """How many times faster the fast way is."""
        return self.slow / self.fast


def compare(slow: Callable[[], Any], fast: Callable[[], Any], repeat: int = 5, *,
            clock: Clock = time.perf_counter) -> Ratio:
    """Time two ways of getting one result in the same run, in turns, as a Ratio of medians."""
    slow_seconds, fast_seconds = interleaved_medians([slow, fast], repeat, clock=clock)
    return Ratio(slow_seconds, fast_seconds)
