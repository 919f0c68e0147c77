"""Bearer-token authentication (PyJWT) and the seed's require_auth / require_role decorators, fixed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import jwt
from flask import current_app, g, request

from patterns.db import get_session
from patterns.error_handling import ApiError
from patterns.models import Role, User

ALGORITHM = "HS256"
MIN_KEY_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
TOKEN_TTL = timedelta(hours=1)
# Exactly "Bearer <three base64url parts>", case-insensitive scheme, one space (RFC 6750 §2.1).
_BEARER = re.compile(r"^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$")

F = TypeVar("F", bound=Callable[..., Any])


def _key() -> str:
    key = current_app.config["SECRET_KEY"]
    if len(key.encode()) < MIN_KEY_BYTES:
        raise RuntimeError(f"SECRET_KEY must be at least {MIN_KEY_BYTES} bytes for {ALGORITHM}")
    return key


def issue_token(user: User, *, now: datetime | None = None, ttl: timedelta = TOKEN_TTL,
                key: str | None = None) -> str:
    """A signed token for user that expires after ttl."""
    issued = now or datetime.now(UTC)
    claims = {"sub": str(user.id), "role": user.role.value, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, key or _key(), algorithm=ALGORITHM)


def verify_token(token: str, *, key: str | None = None) -> dict[str, Any]:
    """The token's claims; raises jwt.InvalidTokenError for anything not issued and valid."""
    # An explicit algorithm list is what stops "alg: none" and key-confusion tokens.
    return jwt.decode(token, key or _key(), algorithms=[ALGORITHM],
                      options={"require": ["exp", "iat", "sub"]})


def _unauthorized(detail: str, error: str = "invalid_token") -> ApiError:
    # RFC 6750 §3: a 401 names the scheme it wants, and why the credentials failed.
    challenge = 'Bearer realm="markets"'
    if error:
        challenge += f', error="{error}"'
    return ApiError(detail, 401, headers={"WWW-Authenticate": challenge})


def authenticate() -> User:
    """The user the request's bearer token names; raises a 401 ApiError otherwise."""
    header = request.headers.get("Authorization")
    if not header:
        raise _unauthorized("authentication required: send Authorization: Bearer <token>", "")
    match = _BEARER.match(header)
    if match is None:
        raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'",
                            "invalid_request")
    try:
        claims = verify_token(match.group(1))
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid token") from None
    user = get_session().get(User, int(claims["sub"])) if claims["sub"].isdigit() else None
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

    def decorator(f: F) -> F:
        @wraps(f)
        @require_auth
        def decorated(*args: Any, **kwargs: Any) -> Any:
            if g.current_user.role != Role(role):
                raise ApiError(f"requires the {Role(role).value} role", 403)
            return f(*args, **kwargs)

        return decorated  # type: ignore[return-value]

    return decorator


def can_modify(user: User, creator_id: int) -> bool:
    """Object-level rule: creators change their own markets, admins any."""
    return user.role == Role.ADMIN or user.id == creator_id
