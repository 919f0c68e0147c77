"""Bearer tokens (PyJWT) and the seed's require_auth / require_role decorators, fixed."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import jwt
from flask import Flask, current_app, g, request
from sqlalchemy import select

from patterns.db import get_db, get_session
from patterns.error_handling import ApiError
from patterns.models import Market, Role, User

ALGORITHM = "HS256"
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
TOKEN_TTL = timedelta(hours=1)
REALM = "markets"
# The credentials after "Bearer ": one JWT, three base64url parts (the signature of an
# "alg: none" token is empty: it passes here and PyJWT's algorithm list rejects it).
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", re.ASCII)
_USER_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("patterns.auth")


def _key(key: str | None = None) -> str:
    key = key if key is not None else current_app.config["SECRET_KEY"]
    if len(key.encode()) < MIN_KEY_BYTES:
        raise RuntimeError(f"SECRET_KEY must be at least {MIN_KEY_BYTES} bytes for {ALGORITHM}")
    return key


def issue_token(user: User, *, now: datetime | None = None, ttl: timedelta = TOKEN_TTL,
                key: str | None = None) -> str:
    """A signed token for user that expires after ttl."""
    issued = now or datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role.value, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, _key(key), algorithm=ALGORITHM)


def verify_token(token: str, *, key: str | None = None) -> dict[str, Any]:
    """The token's claims; raises jwt.InvalidTokenError for anything not issued and valid."""
    # An explicit algorithm list is what stops "alg: none" and key-confusion tokens;
    # "require" turns a token without an expiry into an invalid one instead of an eternal one.
    return jwt.decode(token, _key(key), algorithms=[ALGORITHM],
                      options={"require": ["exp", "iat", "sub"]})


def _unauthorized(detail: str, error: str | None = "invalid_token") -> ApiError:
    # RFC 6750 §3: a 401 names the scheme it wants; error= only when a bearer token was sent.
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return ApiError(detail, 401, headers={"WWW-Authenticate": challenge})


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when another scheme is used."""
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":  # RFC 9110 §11.1: the scheme is case-insensitive
        return None
    return credentials


def authenticate() -> User:
    """The user the request's bearer token names; raises a 401 ApiError otherwise."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise _unauthorized("authentication required: send Authorization: Bearer <token>", None)
    if _JWT.fullmatch(token) is None:  # "Bearer Bearer x", "Bearer ", a stray space...
        raise _unauthorized("malformed bearer token")
    try:
        claims = verify_token(token)
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        # The client learns "invalid"; the log learns why (bad signature, missing exp, alg...).
        log.info("token rejected", extra={"reason": type(exc).__name__})
        raise _unauthorized("invalid token") from None
    sub = claims["sub"]
    user = get_session().get(User, int(sub)) if _USER_ID.fullmatch(sub) else None
    if user is None:
        raise _unauthorized("token names an unknown user")
    return user


def require_auth(f: F) -> F:
    """Run the view only for a request with a valid bearer token; sets g.current_user."""

    @wraps(f)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        g.current_user = authenticate()
        return f(*args, **kwargs)

    return decorated  # type: ignore[return-value]


def require_role(role: Role | str) -> Callable[[F], F]:
    """Run the view only for an authenticated user with this role (401 if anonymous, 403 if not)."""
    wanted = Role(role)  # a typo in a role name fails at import, not on the first request

    def decorator(f: F) -> F:
        @wraps(f)
        @require_auth
        def decorated(*args: Any, **kwargs: Any) -> Any:
            if g.current_user.role != wanted:
                # 403, not 401: we know who you are; a new token would not change the answer.
                raise ApiError(f"requires the {wanted.value} role", 403)
            return f(*args, **kwargs)

        return decorated  # type: ignore[return-value]

    return decorator


def can_modify(user: User, creator_id: int) -> bool:
    """Object-level rule: creators change their own markets, admins any."""
    return user.role == Role.ADMIN or user.id == creator_id


def init_app(app: Flask) -> None:
    """Refuse to start with a short signing key."""
    _key(app.config["SECRET_KEY"])


# ---- Evidence: the attack matrix (the notebook and bench/auth_middleware.py run it) ----

@dataclass(frozen=True)
class Attempt:
    """One request in the attack matrix and what became of it."""

    case: str
    expected: int
    status: int
    challenge: str  # the error= of WWW-Authenticate, "" without one, "-" without the header
    reached: bool  # did the protected action happen (the write, or the admin data)?
    attack: bool = True


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _challenge(response: Any) -> str:
    header = response.headers.get("WWW-Authenticate")
    if header is None:
        return "-"
    match = re.search(r'error="([^"]+)"', header)
    return match.group(1) if match else ""


def attack_matrix(app: Flask, *, now: datetime | None = None) -> list[Attempt]:
    """Send each forged, expired or misused credential at protected routes; report what happened."""
    now = now or datetime.now(UTC)
    key = app.config["SECRET_KEY"]
    with app.app_context(), get_db(app).new_session() as session:
        user = session.scalar(select(User).where(User.role == Role.USER).order_by(User.id))
        admin = session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
        own = session.scalar(select(Market).where(Market.creator_id == user.id).limit(1))
        other = session.scalar(select(Market).where(Market.creator_id != user.id)
                               .order_by(Market.id).limit(1))
        assert user and admin and own and other, "needs demo data with at least 3 markets"
        valid = issue_token(user, now=now)
        claims = {"sub": str(user.id), "role": "user", "iat": now, "exp": now + TOKEN_TTL}
        header, payload, signature = valid.split(".")
        forged = {
            "tampered payload": ".".join([header, _b64({**jwt.decode(valid, options={
                "verify_signature": False}), "sub": str(admin.id), "role": "admin"}), signature]),
            "wrong key": jwt.encode(claims, "k" * 64, algorithm=ALGORITHM),
            "alg: none": jwt.encode(claims, None, algorithm="none"),
            "expired": issue_token(user, now=now - 2 * TOKEN_TTL),
            "missing exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key,
                                      algorithm=ALGORITHM),
            "unknown user": jwt.encode({**claims, "sub": "999999"}, key, algorithm=ALGORITHM),
        }
        admin_token = issue_token(admin, now=now)
        own_id, other_id = own.id, other.id
    put_cases: list[tuple[str, int, int, dict[str, str]]] = [
        ("no header", 401, own_id, {}),
        ("wrong scheme", 401, own_id, {"Authorization": f"Basic {valid}"}),
        ("token without scheme", 401, own_id, {"Authorization": valid}),
        ("Bearer Bearer <token>", 401, own_id, {"Authorization": f"Bearer Bearer {valid}"}),
        ("empty token", 401, own_id, {"Authorization": "Bearer "}),
        ("garbage", 401, own_id, {"Authorization": "Bearer not-a-jwt"}),
        *[(case, 401, own_id, {"Authorization": f"Bearer {token}"})
          for case, token in forged.items()],
        ("someone else's market", 403, other_id, {"Authorization": f"Bearer {valid}"}),
    ]
    client = app.test_client()
    results = []
    for case, expected, market_id, headers in put_cases:
        marker = f"pwned by {case}"[:200]
        response = client.put(f"/api/markets/{market_id}", json={"name": marker}, headers=headers)
        name = client.get(f"/api/markets/{market_id}").get_json()["data"]["name"]
        results.append(Attempt(case, expected, response.status_code, _challenge(response),
                               reached=name == marker))
    response = client.get("/api/admin/users", headers={"Authorization": f"Bearer {valid}"})
    results.append(Attempt("wrong role", 403, response.status_code, _challenge(response),
                           reached=response.status_code == 200))
    # Controls: the same probes with rightful credentials do reach, so the probe can see a bypass.
    for case, market_id, token in (("control: own market", own_id, valid),
                                   ("control: admin, any market", other_id, admin_token)):
        marker = f"renamed by {case}"
        response = client.put(f"/api/markets/{market_id}", json={"name": marker},
                              headers={"Authorization": f"Bearer {token}"})
        name = client.get(f"/api/markets/{market_id}").get_json()["data"]["name"]
        results.append(Attempt(case, 200, response.status_code, _challenge(response),
                               reached=name == marker, attack=False))
    return results


def matrix_figures(results: list[Attempt]) -> dict[str, int]:
    """auth.cases (attacks tried) and auth.bypasses (attacks that reached the protected action)."""
    attacks = [r for r in results if r.attack]
    return {"auth.cases": len(attacks), "auth.bypasses": sum(r.reached for r in attacks)}
