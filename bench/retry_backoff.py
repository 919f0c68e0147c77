"""Retry figures: how many calls full jitter saves when 100 clients hit a recovering service."""

from __future__ import annotations

from statistics import median

from evidence.retry_backoff import simulate_contention


def figures(quick: bool = False) -> dict[str, float | int]:
    """retry.jitter_call_reduction (median over seeds) and the calls and completion behind it."""
    seeds = range(1 if quick else 5)
    plain = [simulate_contention(100, jitter=False, seed=s) for s in seeds]
    jittered = [simulate_contention(100, jitter=True, seed=s) for s in seeds]
    return {
        "retry.jitter_call_reduction": round(
            median(1 - j.calls / p.calls for p, j in zip(plain, jittered, strict=True)), 3),
        "retry.calls_no_jitter": int(median(p.calls for p in plain)),
        "retry.calls_full_jitter": int(median(j.calls for j in jittered)),
        "retry.completion_s_no_jitter": round(median(p.completion for p in plain), 2),
        "retry.completion_s_full_jitter": round(median(j.completion for j in jittered), 2),
    }
