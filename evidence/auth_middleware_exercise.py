"""Lesson 04's exercise check: a learner's require_any_role, judged by what each request gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from evidence.grading import WrongAnswer, call, expect, passed
from patterns.auth_middleware import ALGORITHM, TOKEN_TTL, issue_token
from patterns.db import get_db
from patterns.error_handling import ApiError
from patterns.models import Role, User

_LET_IN = "the view's own answer"  # what the probe view returns when it runs


@dataclass(frozen=True)
class _Outcome:
    """What one request through the learner's decorator came to."""

    status: int
    content_type: str
    challenge: str | None  # WWW-Authenticate
    ran: bool  # did the view itself run?
    let_in: bool  # did the view's own return value come back?
    body: str

    def __str__(self) -> str:
        if self.let_in:
            return "let the request in"
        return f"answered {self.status} {self.content_type} {self.body[:80]}"


def _headers(app: Flask) -> dict[str, dict[str, str]]:
    """An admin, a plain user, and that user with a token that carries a role claim: admin."""
    now = datetime.now(UTC)
    with app.app_context(), get_db(app).new_session() as session:
        admin = session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
        user = session.scalar(select(User).where(User.role == Role.USER).order_by(User.id))
        if admin is None or user is None:
            raise RuntimeError("the check needs demo data with an admin and a plain user")
        # Signed with the app's key, so it verifies. This app's tokens carry no role, but many
        # identity providers add one: the database, not the claim, must decide.
        claims = {"sub": str(user.id), "role": "admin", "iat": now, "exp": now + TOKEN_TTL}
        role_claim = jwt.encode(claims, app.config["SECRET_KEY"], algorithm=ALGORITHM)
        return {"admin": {"Authorization": f"Bearer {issue_token(admin, now=now)}"},
                "user": {"Authorization": f"Bearer {issue_token(user, now=now)}"},
                "role_claim": {"Authorization": f"Bearer {role_claim}"}, "anonymous": {}}


def _request(app: Flask, view: Callable[[], Any], ran: list[bool],
             headers: dict[str, str]) -> _Outcome:
    """Call the decorated view inside an API request; turn what it did into a response."""
    ran.clear()
    with app.test_request_context("/api/probe", headers=headers):
        try:
            value = view()
        except (ApiError, HTTPException) as exc:
            value = app.handle_user_exception(exc)  # lesson 09's handlers: problem+json
        except Exception as exc:  # the learner's bug, in one line
            raise WrongAnswer(f"your decorated view raised {type(exc).__name__}: {exc}") from None
        if value == _LET_IN:
            return _Outcome(200, "", None, bool(ran), True, "")
        expect(value is not None, "the decorated view to return the view's own answer when it "
               "lets a request in", "yours returned None: `return f(*args, **kwargs)`, not just "
               "call it")
        try:
            response = app.make_response(value)
        except (TypeError, ValueError) as exc:
            raise WrongAnswer(f"expected the decorated view to return the view's answer or raise "
                              f"ApiError; yours returned {value!r} ({exc})") from None
        return _Outcome(response.status_code, response.mimetype or "", response.headers.get(
            "WWW-Authenticate"), bool(ran), False, response.get_data(as_text=True).strip())


def _refusal(outcome: _Outcome, status: int, who: str) -> None:
    expect(not outcome.let_in and not outcome.ran, f"a {status} for {who}",
           f"yours ran the view ({outcome})")
    expect(outcome.status == status, f"a {status} for {who}", f"yours {outcome}")
    expect(outcome.content_type == "application/problem+json",
           f"the {status} in application/problem+json: raise ApiError(..., {status}) and lesson "
           f"09's handler writes it", f"yours {outcome}, returned from inside the view")


def check_require_any_role(require_any_role: Callable[..., Any], app: Flask) -> None:
    """Judge require_any_role(*roles): 401 anonymous, 403 wrong role (per the DB), else in."""
    ran: list[bool] = []

    def probe() -> str:
        ran.append(True)
        return _LET_IN

    def guard(*roles: Any) -> Callable[[], Any]:
        label = f"require_any_role({', '.join(map(repr, roles))})"
        decorator = call(label, require_any_role, *roles)
        return call(f"{label}(view)", decorator, probe)

    admins_only, anyone = guard("admin"), guard(Role.ADMIN, "user")
    headers = _headers(app)
    anonymous = _request(app, admins_only, ran, headers["anonymous"])
    _refusal(anonymous, 401, "an anonymous request (decorate with require_auth)")
    expect((anonymous.challenge or "").lower().startswith("bearer"),
           "the 401 to carry WWW-Authenticate: Bearer (require_auth's challenge)",
           f"yours came with {anonymous.challenge!r}")
    _refusal(_request(app, admins_only, ran, headers["user"]), 403,
             "a signed-in user without the role (we know who you are: 403, not 401 or 404)")
    for view, who, label in ((admins_only, "admin", "require_any_role('admin')"),
                             (anyone, "user", "require_any_role(Role.ADMIN, 'user')")):
        outcome = _request(app, view, ran, headers[who])
        expect(outcome.let_in, f"{label} to let in a request from the {who}", f"yours {outcome}")
    claimed = _request(app, admins_only, ran, headers["role_claim"])
    _refusal(claimed, 403, "a user the database calls 'user' whose token claims the role 'admin' "
             "(read g.current_user.role, not the token)")
    expect(getattr(admins_only, "__name__", None) == "probe",
           "the decorated view to keep its name 'probe' (functools.wraps), or Flask refuses a "
           "second route", f"yours is called {getattr(admins_only, '__name__', None)!r}")
    try:
        require_any_role("admni")(probe)
    except ValueError:
        pass
    except Exception as exc:
        raise WrongAnswer(f"expected a ValueError for the role name 'admni' (Role('admni')); "
                          f"yours raised {type(exc).__name__}: {exc}") from None
    else:
        raise WrongAnswer("expected require_any_role('admni') to fail when decorating, as "
                          "require_role does (Role(name)); yours accepted the typo")
    passed("require_any_role: 401 with a challenge, 403 for the wrong role as the database "
           "says, the view otherwise")
