"""Cache keys built from a function and every one of its arguments."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

from patterns.caching.codec import dumps

KEY_VERSION = 1  # bump when the shape of cached values changes: old entries are never read


def make_key(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], *,
             version: int = KEY_VERSION) -> str:
    """v<version>:<module.qualname>:<every argument by name, defaults applied, as sorted JSON>."""
    # Binding to the signature makes f(1, x=2), f(1, 2) and f(a=1, x=2) one key, and
    # f(1, x=2) and f(1, x=3) two keys: keyword arguments are part of the key, not dropped.
    bound = inspect.signature(f).bind(*args, **kwargs)
    bound.apply_defaults()
    try:
        arguments = dumps(bound.arguments)
    except TypeError as exc:
        raise TypeError(f"cannot build a cache key for {f.__qualname__}: {exc}") from None
    if len(arguments) > 200:  # long arguments: a digest keeps keys short, collisions negligible
        arguments = "sha256:" + hashlib.sha256(arguments.encode()).hexdigest()[:32]
    return f"v{version}:{f.__module__}.{f.__qualname__}:{arguments}"
