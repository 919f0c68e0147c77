"""Lesson 01's exercise check: a learner's positions blueprint, judged over HTTP alone.

The check mounts the learner's blueprint on a fresh app with demo data and sends it requests
through the test client: the good ones (all positions, by side, a page), a missing market, and
each bad query value. Only status codes, content types and bodies count, never the code's shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Flask
from sqlalchemy import func, select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.test import TestResponse

from evidence.grading import WrongAnswer, expect, passed
from patterns.app import create_app
from patterns.db import get_db
from patterns.error_handling import problem
from patterns.models import Market, Position, Side

ROUTE = "/api/markets/<int:market_id>/positions"
PROBLEM = "application/problem+json"
# Each bad query string, the parameter the answer must name, and what went unchecked.
BAD_QUERIES = [
    ("side=maybe", "side", "the value was not validated (yes or no)"),
    ("limit=abc", "limit", "the value was not validated as a number"),
    ("limit=0", "limit", "the limit has no lower bound (1)"),
    ("limit=-1", "limit", "the limit has no lower bound (1)"),
    ("limit=10000000", "limit", "the limit has no upper bound (100)"),
    ("sdie=yes", "sdie", "an unknown parameter was ignored, so the typo went unnoticed"),
]


@contextmanager
def _app_with(positions: Any) -> Iterator[tuple[Flask, list[BaseException]]]:
    """A fresh app with 20 demo markets and the learner's blueprint; what its views raised."""
    expect(isinstance(positions, Blueprint), "`positions` to be a flask.Blueprint",
           f"yours is {type(positions).__name__}")
    app = create_app({"TESTING": True, "DEMO_ROWS": 20})
    raised: list[BaseException] = []

    def record(error: Exception) -> Any:  # instead of the app's: no traceback in the log
        raised.append(error)
        return problem(500, "The server failed to answer this request.")

    try:
        app.register_error_handler(Exception, record)
        try:
            app.register_blueprint(positions)
        except Exception as exc:
            raise WrongAnswer(f"expected a blueprint the app can register beside its own; "
                              f"registering yours raised {type(exc).__name__}: {exc}") from None
        try:
            app.url_map.bind("localhost").match("/api/markets/1/positions", "GET")
        except (NotFound, MethodNotAllowed):
            rules = sorted(str(r) for r in app.url_map.iter_rules()
                           if r.endpoint.startswith(f"{positions.name}."))
            raise WrongAnswer(f"expected a GET route {ROUTE} on the blueprint; yours has "
                              f"{', '.join(rules) or 'no route'}") from None
        yield app, raised
    finally:
        get_db(app).close()


def _said(response: TestResponse) -> str:
    """A response in one line: status, type, and the positions or the error it carried."""
    head = f"{response.status_code} {response.mimetype or '(no type)'}"
    body = response.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        return f"{head} with {len(body['data'])} positions"
    if isinstance(body, list):
        return f"{head} with a bare list of {len(body)}"
    if isinstance(body, dict) and body.get("detail"):
        return f"{head} ({str(body['detail'])[:60]})"
    return f"{head} {response.get_data(as_text=True)[:60]!r}"


def _get(app: Flask, raised: list[BaseException], url: str) -> TestResponse:
    raised.clear()
    response = app.test_client().get(url)
    if raised:
        exc = raised[0]
        if isinstance(exc, NotImplementedError):
            raise WrongAnswer("market_positions is not written yet: replace the stub's "
                              "`raise NotImplementedError` with your code")
        raise WrongAnswer(f"expected {url} to be answered; your view raised "
                          f"{type(exc).__name__}: {exc} (a 500)")
    return response


def _ids(app: Flask, raised: list[BaseException], url: str, want: list[int],
         what: str) -> None:
    response = _get(app, raised, url)
    body = response.get_json(silent=True)
    expect(response.status_code == 200 and response.mimetype == "application/json",
           f"200 application/json for {url}", f"yours answered {_said(response)}")
    data = body.get("data") if isinstance(body, dict) else None
    expect(isinstance(body, dict) and body.get("success") is True and isinstance(data, list),
           f'the envelope {{"success": true, "data": [...]}} for {url}',
           f"yours answered {_said(response)}: return envelope(data)")
    items: list[Any] = data if isinstance(data, list) else []
    expect(all(isinstance(p, dict) and "id" in p and "side" in p for p in items),
           'each position as an object with at least "id" and "side"',
           f"yours sent {str(items[:1])[:80]}")
    got = [p["id"] for p in items]
    sides = sorted({str(p["side"]) for p in items})
    expect(got == want, f"{what} for {url}: ids {want}",
           f"yours answered ids {got} (sides {', '.join(sides) or 'none'})")


def check_market_positions(positions: Any) -> None:
    """Judge GET /api/markets/<id>/positions?side=&limit= by what each request gets."""
    with _app_with(positions) as (app, raised):
        with get_db(app).new_session() as session:
            rows = session.execute(select(Position.market_id, Position.id, Position.side)
                                   .order_by(Position.id)).all()
            missing = (session.scalar(select(func.max(Market.id))) or 0) + 1000
        by_market: dict[int, list[tuple[int, Side]]] = {}
        for market_id, position_id, side in rows:
            by_market.setdefault(market_id, []).append((position_id, side))
        market, held = next((m, ps) for m, ps in by_market.items()
                            if len({s for _, s in ps}) == 2 and len(ps) >= 3)
        url = f"/api/markets/{market}/positions"
        _ids(app, raised, url, [i for i, _ in held], f"all {len(held)} positions, in id order")
        for side in Side:
            _ids(app, raised, f"{url}?side={side.value}", [i for i, s in held if s == side],
                 f"only the {side.value!r} positions")
        _ids(app, raised, f"{url}?limit=2", [i for i, _ in held][:2], "the first 2 positions")
        gone = _get(app, raised, f"/api/markets/{missing}/positions")
        expect(gone.status_code == 404 and gone.mimetype == PROBLEM,
               f"404 {PROBLEM} for market {missing} (no such market)",
               f"yours answered {_said(gone)}: look the market up first, raise "
               "ApiError(..., 404)")
        for query, name, unchecked in BAD_QUERIES:
            bad = _get(app, raised, f"{url}?{query}")
            expect(bad.status_code != 422, f"400 for ?{query}, as the API answers every bad "
                   "query parameter (422 is for a body)", f"yours answered {_said(bad)}: "
                   "schema.load raised ValidationError; query_args(schema) turns it into a 400")
            expect(bad.status_code == 400, f"400 {PROBLEM} for ?{query}",
                   f"yours answered {_said(bad)}: {unchecked}")
            expect(bad.mimetype == PROBLEM, f"the 400 for ?{query} in {PROBLEM}",
                   f"yours answered {_said(bad)}: raise ApiError (query_args does) and the "
                   "app's handler writes the one error shape")
            expect(name in bad.get_data(as_text=True), f"the 400 for ?{query} to name "
                   f"{name!r}, so the client knows what to fix", f"yours answered {_said(bad)}")
    passed(f"GET {ROUTE}: 200 with the envelope, side and limit applied, 404 for a missing "
           f"market, 400 problem+json naming each of {len(BAD_QUERIES)} bad query values")

