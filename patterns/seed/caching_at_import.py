"""The first lines of the seed's app/cache.py, verbatim: importing this module fails (lesson 08)."""

from flask import current_app
from redis import Redis

# Runs when the module is imported, long before any app exists: "Working outside of application
# context". The client belongs in the app factory (patterns/caching.py, RedisCache.init_app).
redis_client = Redis.from_url(current_app.config['REDIS_URL'])
