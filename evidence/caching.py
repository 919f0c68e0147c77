"""Lesson 08's evidence: the stampede, the stale-read trial and the hit/miss latency."""

from __future__ import annotations

import random
import secrets
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import select

from evidence.timing import Clock, median_ms
from patterns.caching import cached, get_cache
from patterns.db import get_session
from patterns.markets import invalidate_market, market_payload
from patterns.models import Market
from patterns.service_layer import MarketService
from patterns.unit_of_work import SqlAlchemyUnitOfWork


def stampede_trial(app: Flask, clients: int = 50, *, protect: bool = True) -> int:
    """How many times `clients` concurrent misses on one cold key recompute it."""
    cache = get_cache(app)
    key = f"stampede:{secrets.token_hex(4)}"
    misses_before = cache.stats.misses
    recomputes, lock = [0], threading.Lock()
    start = threading.Barrier(clients)

    def expensive() -> dict[str, int]:
        with lock:
            recomputes[0] += 1
        # Hold the computation until every client has missed: all misses are truly concurrent.
        deadline = time.monotonic() + 5
        while cache.stats.misses - misses_before < clients and time.monotonic() < deadline:
            time.sleep(0.001)
        return {"answer": 42}

    def client() -> None:
        start.wait()
        with app.app_context():
            cache.get_or_compute(key, expensive, ttl=60, protect=protect)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.invalidate(key)
    return recomputes[0]


@dataclass(frozen=True)
class StaleReadTrial:
    """What a randomized run of reads and writes saw."""

    strategy: str
    reads: int  # reads checked against the database
    stale: int  # of those, answers that differed from the committed row
    racing_reads: int  # reads whose load straddled a write (not checked: either answer is fair)
    writes: int


STRATEGIES = ("no invalidation", "delete after commit", "delete + generation guard")


def _fresh_payload(app: Flask, market_id: int) -> dict[str, Any] | None:
    with app.app_context():  # a new context: a new session, nothing remembered
        return market_payload.uncached(market_id)


def stale_read_trial(app: Flask, *, ops: int = 300, seed: int = 0, markets: int = 5,
                     strategy: str = STRATEGIES[2]) -> StaleReadTrial:
    """Random reads, updates, deletes and restores of a few markets; every read checked."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}")
    rng = random.Random(seed)
    cache = get_cache(app)
    invalidating = strategy != STRATEGIES[0]
    guard = strategy == STRATEGIES[2]
    ids = list(range(1, markets + 1))
    with app.app_context():  # start from a clean slate, whatever an earlier run left cached
        for i in ids:
            invalidate_market(i)
    originals = {i: _fresh_payload(app, i) for i in ids}
    deleted: dict[int, dict[str, Any]] = {}
    reads = stale = racing = writes = 0

    def service() -> MarketService:
        listener = invalidate_market if invalidating else (lambda _id: None)
        return MarketService(SqlAlchemyUnitOfWork(get_session()), on_change=listener)

    def update(market_id: int) -> None:
        with app.app_context():
            service().update(market_id, {"name": f"renamed {rng.randrange(10**6)}"})

    def read(market_id: int, load: Callable[[], Any]) -> Any:
        with app.app_context():
            return cache.get_or_compute(market_payload.key(market_id), load, guard=guard)

    for _ in range(ops):
        market_id, roll = rng.choice(ids), rng.random()
        if roll < 0.5:  # a read, checked against what the database holds right after it
            answer = read(market_id, partial(market_payload.uncached, market_id))
            reads += 1
            stale += answer != _fresh_payload(app, market_id)
        elif roll < 0.6 and market_id not in deleted:  # a read that loads, then a write lands
            def load_then_write(m: int = market_id) -> Any:
                loaded = market_payload.uncached(m)
                update(m)  # another request commits while this one is between load and store
                return loaded
            read(market_id, load_then_write)
            racing += 1
            writes += 1
        elif roll < 0.85 and market_id not in deleted:
            update(market_id)
            writes += 1
        elif roll < 0.95 and market_id not in deleted:
            with app.app_context():
                deleted[market_id] = _fresh_payload(app, market_id) or {}
                service().delete(market_id)
            writes += 1
        elif market_id in deleted:  # restore it under the same id: the row comes back
            payload = deleted.pop(market_id)
            with app.app_context():
                session = get_session()
                original = originals[market_id] or {}
                session.add(Market(id=market_id, name=payload.get("name", "restored"),
                                   creator_id=original.get("creator", {}).get("id", 1)))
                session.commit()
            writes += 1
    return StaleReadTrial(strategy, reads, stale, racing, writes)


def hit_speedup(app: Flask, *, market_id: int = 1, requests: int = 200,
                clock: Clock = time.perf_counter) -> tuple[float, float]:
    """Median latency (ms) of GET /api/markets/<id> on a cache miss and on a hit."""
    client = app.test_client()
    url = f"/api/markets/{market_id}"

    def get() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    def forget() -> None:
        with app.app_context():
            invalidate_market(market_id)

    get()  # warm up the code paths (imports, first connections) before measuring
    miss = median_ms(get, requests, clock=clock, setup=forget)
    hit = median_ms(get, requests, clock=clock)
    return miss, hit


@cached(ttl=60)
def market_name(market_id: int) -> str | None:
    """A cheap query worth no cache: one column of one row, by primary key."""
    return get_session().scalar(select(Market.name).where(Market.id == market_id))


def small_query_costs(app: Flask, *, market_id: int = 1, repeat: int = 300,
                      clock: Clock = time.perf_counter) -> tuple[float, float]:
    """Median ms of a primary-key lookup and of the same value from the cache, in one session,
    timed in turns so that both see the same load."""
    samples: tuple[list[float], list[float]] = ([], [])
    with app.app_context():
        market_name(market_id)  # cached from here on; the session is open and warm
        ways = (lambda: market_name.uncached(market_id), lambda: market_name(market_id))
        for _ in range(repeat):
            for way, times in zip(ways, samples, strict=True):
                started = clock()
                way()
                times.append((clock() - started) * 1000)
    query, hit = (statistics.median(times) for times in samples)
    return query, hit
