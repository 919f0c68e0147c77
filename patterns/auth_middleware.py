"""Bearer tokens (PyJWT) and the seed's require_auth / require_role decorators, fixed."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import jwt
from flask import Flask, current_app, g, request

from patterns.db import get_session
from patterns.error_handling import ApiError
from patterns.models import Role, User

ALGORITHM = "HS256"
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
TOKEN_TTL = timedelta(hours=1)
REALM = "markets"
# The credentials after "Bearer ": one JWT, three base64url parts (the signature of an
# "alg: none" token is empty: it passes here and PyJWT's algorithm list rejects it).
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", re.ASCII)
_USER_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("patterns.auth")


def _key(key: str | None = None) -> str:
    key = key if key is not None else current_app.config["SECRET_KEY"]
    if len(key.encode()) < MIN_KEY_BYTES:
        raise RuntimeError(f"SECRET_KEY must be at least {MIN_KEY_BYTES} bytes for {ALGORITHM}")
    return key


def issue_token(user: User, *, now: datetime | None = None, ttl: timedelta = TOKEN_TTL,
                key: str | None = None) -> str:
    """A signed token naming user (sub) that expires after ttl."""
    issued = now or datetime.now(UTC)
    # Who, not what they may do: no role claim. require_role reads the role from the database
    # at each request, so a demoted admin loses the right at once, not when the token expires.
    claims = {"sub": str(user.id), "iat": issued, "exp": issued + ttl}
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
    return credentials.lstrip(" ")  # RFC 6750 §2.1: "Bearer" 1*SP b64token (spaces, not tabs)


def authenticate() -> User:
    """The user the request's bearer token names; raises a 401 ApiError otherwise."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise _unauthorized("authentication required: send Authorization: Bearer <token>", None)
    if _JWT.fullmatch(token) is None:  # "Bearer Bearer x", "Bearer ", a trailing space...
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


def require_auth(f: Callable[P, R]) -> Callable[P, R]:
    """Run the view only for a request with a valid bearer token; sets g.current_user."""

    @wraps(f)
    def decorated(*args: P.args, **kwargs: P.kwargs) -> R:
        g.current_user = authenticate()
        return f(*args, **kwargs)

    return decorated


def require_role(role: Role | str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the view only for an authenticated user with this role (401 if anonymous, 403 if not)."""
    wanted = Role(role)  # a typo in a role name fails at import, not on the first request

    def decorator(f: Callable[P, R]) -> Callable[P, R]:
        @wraps(f)
        @require_auth
        def decorated(*args: P.args, **kwargs: P.kwargs) -> R:
            if g.current_user.role != wanted:
                # 403, not 401: we know who you are; a new token would not change the answer.
                raise ApiError(f"requires the {wanted.value} role", 403)
            return f(*args, **kwargs)

        return decorated

    return decorator


def can_modify(user: User, creator_id: int) -> bool:
    """Object-level rule: creators change their own markets, admins any."""
    return user.role == Role.ADMIN or user.id == creator_id


def init_app(app: Flask) -> None:
    """Refuse to start with a short signing key."""
    _key(app.config["SECRET_KEY"])

