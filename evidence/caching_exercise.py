"""Lesson 08's exercise check: a write path that commits, then invalidates the cached read,
judged by a stale-read trial run with the learner's own write."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import event

from evidence.grading import WrongAnswer, expect, passed
from patterns.caching import RedisCache, get_cache
from patterns.db import get_db
from patterns.markets import market_payload

MARKETS, OPS, SEED = 4, 60, 8  # small and seeded: the same trial, the same count, every run
MISSING = 1_000_000
Rename = Callable[[int, str], Any]


@dataclass
class _Watch:
    """The learner's write as it happened: ("commit", "", "") and ("invalidate" | "delete" |
    "set", the key as the learner named it, the Redis key it stands for)."""

    app: Flask
    events: list[tuple[str, str, str]] = field(default_factory=list)
    recording: bool = False
    reader: int | None = None  # a request reads this market right after each cache step
    depth: int = 0  # inside the cache's own methods: their raw commands are not the learner's

    def saw(self, kind: str, keys: list[tuple[str, str]]) -> None:
        if not self.recording or self.depth:
            return
        self.events += [(kind, given, full) for given, full in keys]
        if self.reader is not None:  # another request lands between this step and the next
            self.recording = False
            try:
                _read(self.app, self.reader)
            finally:
                self.recording = True


class _Client:
    """The cache's Redis client, telling the watch about the learner's raw deletes and sets."""

    def __init__(self, client: Any, watch: _Watch) -> None:
        self._client, self._watch = client, watch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete(self, *names: Any) -> Any:
        done = self._client.delete(*names)
        self._watch.saw("delete", [(_text(n), _text(n)) for n in names])
        return done

    unlink = delete

    def set(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        done = self._client.set(name, *args, **kwargs)
        self._watch.saw("set", [(_text(name), _text(name))])
        return done


def _text(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)


@contextmanager
def _watching(app: Flask) -> Iterator[_Watch]:
    """Record commits and cache steps; put a reader between steps when asked."""
    watch, cache, engine = _Watch(app), get_cache(app), get_db(app).engine

    def on_commit(_conn: Any) -> None:
        if watch.recording and not watch.depth:
            watch.events.append(("commit", "", ""))

    def wrap(name: str, kind: str | None) -> None:
        original = getattr(cache, name)

        def method(*args: Any, **kwargs: Any) -> Any:
            watch.depth += 1
            try:
                result = original(*args, **kwargs)
            finally:
                watch.depth -= 1
            if kind:  # clear() names no key: it deletes them all
                watch.saw(kind, [(args[0], cache.full_key(args[0])) if args else ("*", "*")])
            return result

        setattr(cache, name, method)

    for name, kind in (("invalidate", "invalidate"), ("set", "set"), ("clear", "delete"),
                       ("get", None), ("get_or_compute", None)):
        wrap(name, kind)
    client, wait = cache._client, cache.wait_timeout
    cache._client = _Client(client, watch)  # type: ignore[assignment]
    cache.wait_timeout = 0.05  # a write that reads the key it races waits 50 ms, not 5 s
    event.listen(engine, "commit", on_commit)
    try:
        yield watch
    finally:
        event.remove(engine, "commit", on_commit)
        cache._client, cache.wait_timeout = client, wait
        for name in ("invalidate", "set", "clear", "get", "get_or_compute"):
            vars(cache).pop(name, None)


def _read(app: Flask, market_id: int) -> Any:
    with app.app_context():  # a request of its own: a new session
        return market_payload(market_id)


def _fresh(app: Flask, market_id: int) -> Any:
    with app.app_context():
        return market_payload.uncached(market_id)


def _rename(app: Flask, rename: Rename, watch: _Watch, market_id: int, name: str, *,
            reader: bool = False) -> Any:
    """The learner's write in a request of its own, watched (and read in between, if asked)."""
    watch.events, watch.reader, watch.recording = [], market_id if reader else None, True
    try:
        with app.app_context():
            return rename(market_id, name)
    except NotImplementedError as exc:
        raise WrongAnswer(f"rename_market is not written yet ({exc}): replace the stub's "
                          "`raise NotImplementedError` with your code") from None
    except WrongAnswer:
        raise
    except Exception as exc:
        raise WrongAnswer(f"your rename_market({market_id}, {name!r}) raised "
                          f"{type(exc).__name__}: {exc}") from None
    finally:
        watch.recording, watch.reader = False, None


def _diagnosis(events: list[tuple[str, str, str]], cache: RedisCache,
               market_id: int) -> str | None:
    """What the learner's write did wrong, in their terms; None when it did it right."""
    key = market_payload.key(market_id)
    full = cache.full_key(key)
    steps = [(i, kind, given, k) for i, (kind, given, k) in enumerate(events) if kind != "commit"]
    commits = [i for i, (kind, _, _) in enumerate(events) if kind == "commit"]
    if not steps:
        return ("you never invalidated: every read after a rename answered the old name from "
                "the cache, until its TTL")
    right = [(i, kind) for i, kind, _, k in steps if k in (full, "*")]
    if not right:
        touched = ", ".join(sorted({repr(given) for _, _, given, _ in steps}))
        if any(k == key for _, kind, _, k in steps if kind == "delete"):
            return (f"your client.delete({key!r}) names a raw Redis key, but this cache stores "
                    f"market_payload({market_id}) under its namespace, as {full!r}: call the "
                    "cache's invalidate, which adds the namespace (and bumps the generation)")
        return (f"you invalidated {touched}, but market_payload({market_id}) is cached under "
                f"{key!r} (market_payload.key({market_id})): invalidate that key")
    after = [kind for i, kind in right if commits and i > commits[-1]]
    if not after:
        return ("you invalidated before the commit: a request that read in between put the old "
                "row back into the cache, and it stayed there after your commit")
    if "invalidate" in after:
        return None
    if "set" in after:
        return ("you stored the new value with set after the commit; a request that had loaded "
                "the old row before your commit then stored it over yours (set does not bump "
                "the generation): invalidate, and let the next read load the new row")
    return ("you deleted the key with a raw delete, which does not bump its generation: a "
            "request that had loaded the old row before your commit stored it after your "
            "delete (the load/invalidate race): call the cache's invalidate")


def _straddle(app: Flask, rename: Rename, watch: _Watch, market_id: int, name: str) -> None:
    """The entry expires; a read misses and loads the old row; the learner's rename lands; the
    read stores what it loaded."""

    def load_then_write() -> Any:
        loaded = market_payload.uncached(market_id)
        _rename(app, rename, watch, market_id, name)  # another request, between load and store
        return loaded

    cache, key = get_cache(app), market_payload.key(market_id)
    cache.client.delete(cache.full_key(key))  # as a TTL does: no generation bump
    with app.app_context():
        cache.get_or_compute(key, load_then_write)


def stale_read_trial_with(app: Flask, rename: Rename, watch: _Watch, *, ops: int = OPS,
                          seed: int = SEED) -> tuple[int, int]:
    """Seeded reads, renames through `rename` (some read in between, some racing a load):
    (reads checked against the database, stale answers among them)."""
    rng = random.Random(seed)
    ids = list(range(1, MARKETS + 1))
    reads = stale = 0
    for n in range(ops):
        market_id, roll, name = rng.choice(ids), rng.random(), f"renamed {seed}-{n}"
        if roll < 0.5:
            reads += 1
            stale += _read(app, market_id) != _fresh(app, market_id)
        elif roll < 0.7:
            _rename(app, rename, watch, market_id, name, reader=True)
        elif roll < 0.9:
            _straddle(app, rename, watch, market_id, name)
        else:
            _rename(app, rename, watch, market_id, name)
    return reads, stale


def check_rename_market(rename_market: Rename, app: Flask) -> None:
    """Rename through the learner's write path; every read after it must see the new name."""
    cache = get_cache(app)
    with _watching(app) as watch:
        for market_id in range(1, MARKETS + 1):
            cache.invalidate(market_payload.key(market_id))  # a clean start, whatever ran before
        old = _read(app, 1)  # market 1 is cached now
        expect(old is not None, "market 1 in the database", "the app has no market 1")
        renamed = _rename(app, rename_market, watch, 1, "Renamed by the check", reader=True)
        events, now = list(watch.events), _fresh(app, 1)
        expect(now["name"] == "Renamed by the check",
               "market 1 named 'Renamed by the check' in the database after "
               "rename_market(1, 'Renamed by the check')",
               f"it is still {now['name']!r}: commit the session after changing the name")
        expect(bool(renamed), "rename_market(1, ...) to return True (the market exists)",
               f"yours returned {renamed!r}")
        absent = f"rename_market({MISSING}, 'nobody') to return False: there is no such market"
        try:
            missing = _rename(app, rename_market, watch, MISSING, "nobody")
        except WrongAnswer as exc:
            raise WrongAnswer(f"expected {absent}; {exc.reason}") from None
        expect(missing is False or missing is None, absent, f"yours returned {missing!r}")
        diagnosis = _diagnosis(events, cache, 1)
        reads, stale = stale_read_trial_with(app, rename_market, watch)
    if stale or diagnosis:
        why = diagnosis or "a read after one of your renames answered the old name"
        raise WrongAnswer(f"expected 0 stale reads of {reads}; yours gave {stale}: {why}")
    passed(f"rename_market: 0 stale reads of {reads}, with requests reading between your steps "
           "and loads racing your commits")
