"""The app's Redis cache: a client built by the app factory, TTLs, stampede protection, and
invalidation that never lets a read after a write go stale."""

from __future__ import annotations

import atexit
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import fakeredis
import redis
from flask import Flask, current_app

from patterns.caching.codec import dumps, loads
from patterns.config import ENV_REDIS_URL, ConfigurationError, mask_url

R = TypeVar("R")

EXTENSION = "redis_cache"  # not "cache": Flask-Caching keeps a dict under that name
DEFAULT_TTL = 300
# A generation outlives any computation in flight by far; it only has to outlast one load.
GENERATION_TTL = 3600
LOCK_TTL_MS = 10_000  # a holder that dies frees the lock after this long


@dataclass
class CacheStats:
    """Counters of one cache: how often reads were answered without recomputing."""

    hits: int = 0
    misses: int = 0
    recomputes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str) -> None:
        """Add one to a counter (hits, misses or recomputes)."""
        with self._lock:  # many request threads share one cache
            setattr(self, name, getattr(self, name) + 1)

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0.0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """The counters and the hit ratio, for the stats endpoint."""
        return {"hits": self.hits, "misses": self.misses, "recomputes": self.recomputes,
                "hit_ratio": round(self.hit_ratio, 4)}


# Store only if nobody invalidated the key since the value was loaded (compare generations).
STORE_IF_CURRENT = """
local current = redis.call('GET', KEYS[2]) or ''
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# Release a lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCache:
    """The app's cache: a Redis client (fakeredis when REDIS_URL is unset) built in init_app."""

    def __init__(self, app: Flask | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._client: redis.Redis | None = None
        self.namespace = "wb"
        self.default_ttl = DEFAULT_TTL
        self.stats = CacheStats()
        self.poll_interval = 0.002  # how often a waiter looks for the value another computes
        self.wait_timeout = 5.0  # after this, a waiter computes itself rather than hang
        self._sleep = sleep
        self._clock = clock
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the client from app.config (never at import time) and register the extension."""
        url = app.config.get("REDIS_URL")
        client: redis.Redis
        if url is None:
            # A private in-memory server per app: two apps (two tests) never share entries.
            client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        else:
            client = redis.Redis.from_url(url, socket_connect_timeout=2)
            try:
                client.ping()
            except (redis.RedisError, ValueError) as exc:
                raise ConfigurationError(
                    f"{ENV_REDIS_URL}={mask_url(url)}: cannot use this Redis: {exc}") from None
        self._client = client
        # Tests and notebooks share one real Redis: each app gets its own key prefix. Others
        # key by the database the values came from, so a re-created database, another
        # checkout or another run on the same Redis never reads this one's entries.
        self.namespace = app.config.get("CACHE_NAMESPACE") or (
            f"wb:{secrets.token_hex(4)}" if app.testing else f"wb:{database_namespace(app)}")
        self.default_ttl = int(app.config.get("CACHE_TTL", DEFAULT_TTL))
        self._store = client.register_script(STORE_IF_CURRENT)
        self._release = client.register_script(_RELEASE)
        app.extensions[EXTENSION] = self
        if app.testing and url is not None:
            atexit.register(self.clear)

    @property
    def client(self) -> redis.Redis:
        """The Redis client init_app built."""
        if self._client is None:  # a cache used before init_app: say so, not AttributeError
            raise RuntimeError("this RedisCache has no client yet: call init_app(app) first")
        return self._client

    def full_key(self, key: str) -> str:
        """The key as stored in Redis: prefixed with this cache's namespace."""
        return f"{self.namespace}:{key}"

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, value) on a hit, (False, None) on a miss; counts either."""
        raw = self.client.get(self.full_key(key))
        self.stats.count("hits" if raw is not None else "misses")
        return (True, loads(raw)) if raw is not None else (False, None)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        """Store a value for ttl seconds (SET with EX: redis-py 8 deprecates SETEX)."""
        self.client.set(self.full_key(key), dumps(value), ex=ttl or self.default_ttl)

    def get_or_compute(self, key: str, compute: Callable[[], R], *, ttl: int | None = None,
                       protect: bool = True, guard: bool = True) -> R:
        """The cached value, or compute() stored for ttl; None results are never stored.

        protect: one caller computes a cold key while the others wait for its value.
        guard: a value loaded before an invalidation is not stored after it.
        """
        hit, value = self.get(key)
        if hit:
            return value
        if not protect:
            return self._load(key, compute, ttl, guard)
        return self._load_once(key, compute, ttl, guard)

    def _load_once(self, key: str, compute: Callable[[], R], ttl: int | None, guard: bool) -> R:
        """One caller takes the key's lock (SET NX PX) and loads; the others wait for its value."""
        lock_key = self.full_key(key) + ":lock"
        give_up = self._clock() + self.wait_timeout
        while True:
            token = secrets.token_hex(8)  # ours alone: release only the lock we still hold
            if self.client.set(lock_key, token, nx=True, px=LOCK_TTL_MS):
                try:
                    return self._load(key, compute, ttl, guard, recheck=True)
                finally:
                    self._release(keys=[lock_key], args=[token])
            self._sleep(self.poll_interval)
            raw = self.client.get(self.full_key(key))
            if raw is not None:
                return loads(raw)
            if self._clock() > give_up:  # the holder is stuck: answer, but do not store
                self.stats.count("recomputes")
                return compute()

    def _load(self, key: str, compute: Callable[[], R], ttl: int | None, guard: bool, *,
              recheck: bool = False) -> R:
        """Note the key's generation, compute, store only if no invalidation came in between."""
        full, gen_key = self.full_key(key), self.full_key(key) + ":gen"
        raw, generation = self.client.mget([full, gen_key])  # both read at one instant
        if recheck and raw is not None:  # the previous lock holder has just stored it
            return loads(raw)
        value = compute()
        self.stats.count("recomputes")
        if value is not None:
            text, seconds = dumps(value), ttl or self.default_ttl
            if guard:  # compare and set in one Lua script: atomic in Redis
                self._store(keys=[full, gen_key], args=[generation or b"", text, seconds])
            else:
                self.client.set(full, text, ex=seconds)
        return value

    def invalidate(self, key: str) -> None:
        """Forget a key and bump its generation, so a load already in flight is not stored."""
        full = self.full_key(key)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(full + ":gen")
            pipe.expire(full + ":gen", GENERATION_TTL)
            pipe.delete(full)
            pipe.execute()

    def clear(self) -> int:
        """Delete every key of this cache's namespace; returns how many."""
        keys = list(self.client.scan_iter(match=f"{self.namespace}:*", count=500))
        if keys:
            self.client.delete(*keys)
        return len(keys)


def get_cache(app: Flask | None = None) -> RedisCache:
    """The cache of the given app, or of the current one."""
    return (app or current_app).extensions[EXTENSION]


def init_app(app: Flask) -> RedisCache:
    """Bind a RedisCache to the app (create_app calls this, and mounts `bp` itself)."""
    return RedisCache(app)


def database_namespace(app: Flask) -> str:
    """A short name for the database this app reads: its URL and the id stored in it."""
    db = app.extensions.get("db")
    report = db.report if db is not None else None
    if report is None:  # an app without a database (a bare test app): nothing to tie values to
        return "nodb"
    url = str(app.config.get("DATABASE_URL") or "embedded")
    return hashlib.sha256(f"{url}|{report.database_id}".encode()).hexdigest()[:12]

