"""Caching with Redis: a client built by the app factory, complete keys, typed JSON, TTLs,
stampede protection, and invalidation that never lets a read after a write go stale."""

from __future__ import annotations

from patterns.caching.codec import dumps, loads
from patterns.caching.decorator import CachedFunction, cached
from patterns.caching.keys import KEY_VERSION, make_key
from patterns.caching.redis_cache import (
    DEFAULT_TTL,
    EXTENSION,
    GENERATION_TTL,
    LOCK_TTL_MS,
    STORE_IF_CURRENT,
    CacheStats,
    RedisCache,
    get_cache,
    init_app,
)

__all__ = [
    "DEFAULT_TTL", "EXTENSION", "GENERATION_TTL", "KEY_VERSION", "LOCK_TTL_MS", "STORE_IF_CURRENT",
    "CacheStats", "CachedFunction", "RedisCache", "cached", "dumps", "get_cache", "init_app",
    "loads", "make_key",
]
