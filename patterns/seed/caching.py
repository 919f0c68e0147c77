"""The seed's cached decorator, as written (lesson 08 shows its bugs; do not use it)."""

# One adaptation: the seed builds redis_client at import time, which cannot run at all (see
# caching_at_import.py). Here it is a module global that the lesson assigns, as a test would.

import json
from functools import wraps

from redis import Redis

redis_client: Redis = None  # the seed: Redis.from_url(current_app.config['REDIS_URL'])


def cached(key_prefix: str, ttl: int = 300):
    """Decorator for caching function results."""
    def decorator(f):
        @wraps(f)
        def decorated(*args, **kwargs):
            cache_key = f"{key_prefix}:{':'.join(str(a) for a in args)}"

            # Check cache
            cached_value = redis_client.get(cache_key)
            if cached_value is not None:
                return json.loads(cached_value)

            # Execute function
            result = f(*args, **kwargs)

            # Cache result
            redis_client.setex(cache_key, ttl, json.dumps(result))

            return result
        return decorated
    return decorator


def invalidate_cache(key_prefix: str, *args):
    """Invalidate a cached value."""
    cache_key = f"{key_prefix}:{':'.join(str(a) for a in args)}"
    redis_client.delete(cache_key)
