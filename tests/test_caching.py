"""Caching: the seed's bugs, then the fixed cache — keys, types, TTL, stampede, invalidation."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_caching import Cache
from sqlalchemy import update

from evidence.caching import (
    STRATEGIES,
    hit_speedup,
    small_query_costs,
    stale_read_trial,
    stampede_trial,
)
from evidence.caching import market_name as small_market_name
from evidence.caching_exercise import check_rename_market
from evidence.grading import WrongAnswer
from evidence.lab import AuthActions
from evidence.services import real_services, service_answers
from patterns import caching
from patterns.caching import RedisCache, cached, dumps, get_cache, loads, make_key
from patterns.config import ConfigurationError
from patterns.db import get_session
from patterns.markets import market_payload
from patterns.models import Market

MakeApp = Callable[..., Flask]  # the make_app fixture's type

# --- the seed ---


def test_seed_builds_its_client_at_import_time_outside_any_app() -> None:
    sys.modules.pop("patterns.seed.caching_at_import", None)
    with pytest.raises(RuntimeError, match="outside of application context"):
        importlib.import_module("patterns.seed.caching_at_import")


def test_seed_key_drops_keyword_arguments() -> None:
    from patterns.seed import caching as seed

    seed.redis_client = fakeredis.FakeRedis()
    calls = []

    @seed.cached("price")
    def price(market_id: int, currency: str = "USD") -> str:
        calls.append(currency)
        return f"{market_id} in {currency}"

    with pytest.warns(DeprecationWarning, match="setex"):  # redis-py 8: SET with ex= instead
        assert price(1, currency="USD") == "1 in USD"
    assert price(1, currency="EUR") == "1 in USD"  # the collision: EUR answered from USD's entry
    assert calls == ["USD"]


def test_seed_json_cannot_store_decimals() -> None:
    from patterns.seed import caching as seed

    seed.redis_client = fakeredis.FakeRedis()

    @seed.cached("volume")
    def volume(market_id: int) -> dict:
        return {"volume": Decimal("12.50")}

    with pytest.raises(TypeError, match="Decimal is not JSON serializable"):
        volume(1)


# --- keys and values ---


def sample(market_id: int, x: int = 1, *, currency: str = "USD") -> None:
    """A function to build keys for."""


def test_keys_include_keyword_arguments_and_defaults() -> None:
    key = make_key(sample, (1,), {"x": 2})
    assert key == f'v1:{__name__}.sample:{{"currency":"USD","market_id":1,"x":2}}'
    assert key != make_key(sample, (1,), {"x": 3})
    # One call, several spellings: one key.
    assert key == make_key(sample, (1, 2), {}) == make_key(sample, (), {"market_id": 1, "x": 2})
    assert make_key(sample, (1,), {}) == make_key(sample, (1, 1), {"currency": "USD"})


def test_keys_carry_a_version_and_stay_short() -> None:
    assert make_key(sample, (1,), {}, version=2).startswith("v2:")
    long_key = make_key(sample, ("y" * 1000,), {})
    assert len(long_key) < 120 and "sha256:" in long_key
    with pytest.raises(TypeError, match="cannot build a cache key for sample"):
        make_key(sample, (object(),), {})


def test_json_round_trip_keeps_decimals_and_dates() -> None:
    value = {"volume": Decimal("1234.50"), "closes_at": datetime(2026, 3, 1, 12, tzinfo=UTC),
             "day": date(2026, 1, 2), "nested": [Decimal("0.01"), {"n": 1}], "none": None}
    assert loads(dumps(value)) == value
    assert type(loads(dumps(value))["volume"]) is Decimal
    assert json.loads(dumps({"a": Decimal("1")})) == {"a": {"$decimal": "1"}}


# --- the extension ---


def test_each_app_builds_its_own_client(app: Flask, make_app: MakeApp) -> None:
    other = make_app(DATABASE_URL=None)
    get_cache(app).set("k", 1)
    if app.config["REDIS_URL"] is None:
        assert isinstance(get_cache(app).client, fakeredis.FakeRedis)
    assert get_cache(other).get("k") == (False, None)  # separate namespaces or servers
    assert get_cache(app).get("k") == (True, 1)


def test_an_unreachable_redis_is_one_readable_error() -> None:
    with pytest.raises(ConfigurationError, match="WORKBOOK_REDIS_URL=redis://127.0.0.1:1/0"):
        RedisCache(Flask("x")).init_app(_flask_with(REDIS_URL="redis://127.0.0.1:1/0"))


def _flask_with(**config: object) -> Flask:
    flask_app = Flask("x")
    flask_app.config.update(config)
    return flask_app


def test_cached_values_expire(app: Flask) -> None:
    cache = get_cache(app)
    with app.app_context():
        assert market_payload(1)["id"] == 1
        ttl = cache.client.ttl(cache.full_key(market_payload.key(1)))
    assert 0 < ttl <= caching.DEFAULT_TTL


def test_none_is_never_cached(app: Flask) -> None:
    with app.app_context():
        assert market_payload(999) is None
        assert get_cache(app).client.get(get_cache(app).full_key(market_payload.key(999))) is None


def test_cached_decorator_uses_all_arguments(app: Flask) -> None:
    calls = []

    @cached(ttl=30)
    def price(market_id: int, currency: str = "USD") -> str:
        calls.append(currency)
        return f"{market_id} in {currency}"

    with app.app_context():
        assert price(1, currency="USD") == "1 in USD"
        assert price(1, currency="EUR") == "1 in EUR"
        assert price(1) == "1 in USD"  # the same call as the first: a hit
        price.invalidate(1, currency="EUR")
        assert price(1, currency="EUR") == "1 in EUR"
    assert calls == ["USD", "EUR", "EUR"]


def test_a_cached_function_keeps_its_name_and_source() -> None:
    assert market_payload.__name__ == "market_payload"
    assert market_payload.__wrapped__ is market_payload.uncached
    listing = inspect.getsource(market_payload)  # what lesson 08's source() shows
    assert listing.startswith("@cached(ttl=DEFAULT_TTL)\ndef market_payload(")


# --- the API ---


def test_market_read_is_cached(app: Flask, client: FlaskClient) -> None:
    stats = get_cache(app).stats
    first = client.get("/api/markets/3").get_json()
    second = client.get("/api/markets/3").get_json()
    assert first == second
    assert (stats.hits, stats.misses) == (1, 1)


def test_a_read_after_an_update_or_delete_is_fresh(client: FlaskClient, auth: AuthActions) -> None:
    assert client.get("/api/markets/2").status_code == 200  # cached now
    put = client.put("/api/markets/2", json={"name": "Renamed"}, headers=auth.admin())
    assert put.status_code == 200
    assert client.get("/api/markets/2").get_json()["data"]["name"] == "Renamed"
    assert client.delete("/api/markets/2", headers=auth.admin()).status_code == 204
    assert client.get("/api/markets/2").status_code == 404


def test_hit_ratio_is_exposed_to_admins(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    for _ in range(3):
        client.get("/api/markets/1")
    assert client.get("/api/cache/stats").status_code == 401
    assert client.get("/api/cache/stats", headers=auth.headers()).status_code == 403
    data = client.get("/api/cache/stats", headers=auth.admin()).get_json()["data"]
    assert data == {"hits": 2, "misses": 1, "recomputes": 1, "hit_ratio": pytest.approx(0.6667)}


# --- stampede and staleness ---


def test_fifty_concurrent_misses_compute_once(app: Flask) -> None:
    assert stampede_trial(app, 50, protect=True) == 1


def test_without_the_lock_every_miss_computes(app: Flask) -> None:
    assert stampede_trial(app, 20, protect=False) == 20


def test_a_load_that_straddles_an_invalidation_is_not_stored(app: Flask) -> None:
    cache = get_cache(app)

    def load_then_invalidate() -> dict:
        old = {"name": "old"}
        cache.invalidate("race")  # a writer commits and invalidates while we were loading
        return old

    assert cache.get_or_compute("race", load_then_invalidate) == {"name": "old"}
    assert cache.get("race") == (False, None)  # the old value was answered, not stored
    cache.get_or_compute("race", load_then_invalidate, guard=False)
    assert cache.get("race") == (True, {"name": "old"})  # unguarded: stale until the TTL


@pytest.mark.parametrize("strategy, stale", [(STRATEGIES[0], "many"), (STRATEGIES[1], "some"),
                                              (STRATEGIES[2], "none")])
def test_stale_reads_by_invalidation_strategy(app: Flask, strategy: str, stale: str) -> None:
    trial = stale_read_trial(app, ops=300, seed=1, strategy=strategy)
    assert trial.reads > 100 and trial.racing_reads > 10
    if stale == "none":
        assert trial.stale == 0
    elif stale == "some":
        assert 0 < trial.stale < trial.reads / 4
    else:
        assert trial.stale > trial.reads / 2


def test_hits_are_faster_than_misses(app: Flask) -> None:
    miss, hit = hit_speedup(app, requests=50)
    assert miss > hit  # the lesson and bench assert the ≥ 3× floor on larger samples


def test_hit_speedup_times_each_request_on_the_clock_it_is_given(app: Flask) -> None:
    ticks = iter(range(10**6))  # every reading of the clock is 1 ms after the last
    miss, hit = hit_speedup(app, requests=5, clock=lambda: next(ticks) / 1000)
    assert (miss, hit) == (pytest.approx(1.0), pytest.approx(1.0))  # one start, one stop each



def test_small_query_costs_time_the_lookup_and_the_hit_in_turns(app: Flask) -> None:
    ticks = iter(range(10**6))  # every reading of the clock is 1 ms after the last
    query, hit = small_query_costs(app, repeat=5, clock=lambda: next(ticks) / 1000)
    assert (query, hit) == (pytest.approx(1.0), pytest.approx(1.0))
    with app.app_context():  # the value the cache answers is the one the query reads
        assert small_market_name(1) == small_market_name.uncached(1) == market_payload(1)["name"]


# --- the production equivalent ---


def test_flask_caching_memoize_with_the_same_client(app: Flask) -> None:
    cache = Cache(app, config={"CACHE_TYPE": "RedisCache",
                               "CACHE_REDIS_HOST": get_cache(app).client,
                               "CACHE_KEY_PREFIX": get_cache(app).namespace + ":fc:"})
    calls = []

    @cache.memoize(timeout=60)
    def price(market_id: int, currency: str = "USD") -> str:
        calls.append(currency)
        return f"{market_id} in {currency}"

    with app.app_context():
        assert price(1, currency="EUR") == "1 in EUR"
        assert price(1, currency="USD") == "1 in USD"
        assert price(1, currency="EUR") == "1 in EUR"
        cache.delete_memoized(price, 1, currency="EUR")
        price(1, currency="EUR")
    assert calls == ["EUR", "USD", "EUR"]


# --- the exercise's check: rename_market, judged by a stale-read trial ---


def ref(market_id: int, name: str) -> bool:
    session = get_session()
    market = session.get(Market, market_id)
    if market is None:
        return False
    market.name = name
    session.commit()
    market_payload.invalidate(market_id)
    return True


def alt(market_id: int, name: str) -> bool:  # Core UPDATE, the key spelt by keyword: one key
    session = get_session()
    renamed = session.execute(update(Market).where(Market.id == market_id)
                              .values(name=name)).rowcount
    session.commit()
    if renamed:
        get_cache().invalidate(market_payload.key(market_id=market_id))
    return bool(renamed)


def _renamed(market_id: int, name: str, then: Callable[[int], object],
             before: Callable[[int], object] = lambda _id: None, commit: bool = True) -> bool:
    session = get_session()
    market = session.get(Market, market_id)
    if market is None:
        return False
    before(market_id)
    market.name = name
    if commit:
        session.commit()
    else:
        session.flush()  # sent, never committed
    then(market_id)
    return True


def stub(market_id: int, name: str) -> bool:
    raise NotImplementedError("your code here: rename, commit, then invalidate")


def never(market_id: int, name: str) -> bool:
    return _renamed(market_id, name, then=lambda _id: None)


def before_commit(market_id: int, name: str) -> bool:
    return _renamed(market_id, name, before=market_payload.invalidate, then=lambda _id: None)


def raw_delete(market_id: int, name: str) -> bool:
    cache = get_cache()
    return _renamed(market_id, name,
                    then=lambda m: cache.client.delete(cache.full_key(market_payload.key(m))))


def raw_delete_unprefixed(market_id: int, name: str) -> bool:
    return _renamed(market_id, name,
                    then=lambda m: get_cache().client.delete(market_payload.key(m)))


def seed_key(market_id: int, name: str) -> bool:
    return _renamed(market_id, name, then=lambda m: get_cache().invalidate(f"market:{m}"))


def id_as_text(market_id: int, name: str) -> bool:  # an id taken from a URL, not converted
    return _renamed(market_id, name, then=lambda m: market_payload.invalidate(str(m)))


def write_through(market_id: int, name: str) -> bool:
    return _renamed(market_id, name, then=lambda m: get_cache().set(
        market_payload.key(m), market_payload.uncached(m)))


def flush_only(market_id: int, name: str) -> bool:
    return _renamed(market_id, name, then=market_payload.invalidate, commit=False)


def crashes_on_a_missing_market(market_id: int, name: str) -> bool:
    market = get_session().get(Market, market_id)
    market.name = name  # type: ignore[union-attr]
    get_session().commit()
    market_payload.invalidate(market_id)
    return True


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (never, "you never invalidated"),
    (before_commit, "you invalidated before the commit: a request that read in between"),
    (raw_delete, "a raw delete, which does not bump its generation"),
    (raw_delete_unprefixed, "names a raw Redis key, but this cache stores market_payload(1) "
                            "under its namespace"),
    (seed_key, "you invalidated 'market:1', but market_payload(1) is cached under "
               "'v1:patterns.markets.market_payload:{\"market_id\":1}'"),
    (id_as_text, "{\"market_id\":\"1\"}', but market_payload(1) is cached under"),
    (write_through, "you stored the new value with set after the commit"),
    (flush_only, "commit the session after changing the name"),
    (crashes_on_a_missing_market, "to return False: there is no such market; your "
                                  "rename_market(1000000, 'nobody') raised AttributeError"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(
        app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    for answer in (ref, alt):
        check_rename_market(answer, app)
        assert "✓ rename_market: 0 stale reads of" in capsys.readouterr().out


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(
        app: Flask) -> None:
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_rename_market(answer, app)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)
        if answer not in (stub, flush_only, crashes_on_a_missing_market):
            assert "expected 0 stale reads of" in caught.value.reason


# --- real Redis ---


@pytest.mark.real
def test_real_redis_namespaces_are_private_and_cleared() -> None:
    url = os.environ.get("WORKBOOK_REDIS_URL")
    if not (real_services() and url):
        pytest.skip("needs WORKBOOK_REAL_SERVICES=1 and WORKBOOK_REDIS_URL (make test-real)")
    if not service_answers("127.0.0.1", 6379):
        pytest.skip("Redis does not answer at 127.0.0.1:6379")
    one, two = RedisCache(), RedisCache()
    for cache in (one, two):
        flask_app = _flask_with(REDIS_URL=url, TESTING=True)
        flask_app.testing = True
        cache.init_app(flask_app)
    assert one.namespace != two.namespace
    one.set("k", {"v": Decimal("1.5")})
    assert two.get("k") == (False, None)
    assert one.get("k") == (True, {"v": Decimal("1.5")})
    assert one.clear() == 1 and two.clear() == 0
