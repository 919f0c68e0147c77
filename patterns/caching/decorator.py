"""@cached: a function's results in the current app's cache, keyed by all of its arguments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

from patterns.caching.keys import KEY_VERSION, make_key
from patterns.caching.redis_cache import get_cache

P = ParamSpec("P")
R = TypeVar("R")


class CachedFunction(Generic[P, R]):
    """A cached function: call it, ask for one call's key, forget one call, or call it uncached."""

    def __init__(self, f: Callable[P, R], ttl: int | None = None, *,
                 version: int = KEY_VERSION) -> None:
        self.uncached = f
        self.ttl, self.version = ttl, version
        # The function's name, docstring and __wrapped__: inspect.getsource shows its code.
        functools.update_wrapper(self, f)

    def key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The cache key of one call, as stored under the cache's namespace."""
        return make_key(self.uncached, args, kwargs, version=self.version)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # The client is looked up per call, in the app that is running: nothing at import.
        return get_cache().get_or_compute(self.key(*args, **kwargs),
                                          lambda: self.uncached(*args, **kwargs), ttl=self.ttl)

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Forget one call's cached result (and stop a load in flight from storing it)."""
        get_cache().invalidate(self.key(*args, **kwargs))


def cached(ttl: int | None = None, *, version: int = KEY_VERSION
           ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
    """Cache a function's results in the current app's cache, keyed by all of its arguments."""

    def decorator(f: Callable[P, R]) -> CachedFunction[P, R]:
        return CachedFunction(f, ttl, version=version)

    return decorator
