"""The seed's cached decorator (its "Redis Caching Layer"), as written; do not use it.

(a) Adapted from the seed, because its first lines cannot run at all (caching_at_import.py shows
them failing): `redis_client = Redis.from_url(current_app.config['REDIS_URL'])` runs at import,
outside any app. Here redis_client is a module global that a lesson or a test assigns (lesson 08
gives it a fakeredis). The seed's "# Usage" lines are left out: they call Flask-SQLAlchemy's
`Market.query.get` and a `to_dict()` that no model here has, and no lesson runs them.
Everything else between the markers is the seed's text.
"""

# ==== (b) The seed's code ("Redis Caching Layer" in backend-patterns.md), as written ====
# app/cache.py

import json
from functools import wraps
from redis import Redis
from flask import current_app

redis_client: Redis = None  # (adapted) the seed: Redis.from_url(current_app.config['REDIS_URL'])

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
# ==== end of the seed's code ====


# ==== (c) Harness: none; lesson 08 and tests assign redis_client themselves ====
