"""The first lines of the seed's app/cache.py, verbatim: importing this module fails (lesson 08).

(a) Adapted from the seed: nothing. `Redis.from_url(current_app.config['REDIS_URL'])` runs when
the module is imported, long before any app exists: "Working outside of application context".
The client belongs in the app factory (patterns/caching/redis_cache.py, RedisCache.init_app).
"""

# ==== (b) The seed's code ("Redis Caching Layer" in backend-patterns.md), its first lines ====
# app/cache.py

import json
from functools import wraps
from redis import Redis
from flask import current_app

redis_client = Redis.from_url(current_app.config['REDIS_URL'])
# ==== end of the seed's code ====


# ==== (c) Harness: none; importing this module is the demonstration ====
