"""Lesson 04's evidence: the attack matrix, run by the notebook, the tests and the bench."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from patterns.auth_middleware import ALGORITHM, TOKEN_TTL, issue_token
from patterns.db import get_db
from patterns.models import Market, Role, User


@dataclass(frozen=True)
class Attempt:
    """One request in the attack matrix and what became of it."""

    case: str
    expected: int
    status: int
    challenge: str  # the error= of WWW-Authenticate, "" without one, "-" without the header
    reached: bool  # did the protected action happen (the write, or the admin data)?
    attack: bool = True


@dataclass(frozen=True)
class _Credentials:
    """The matrix's material: a plain user's valid token, forgeries of it, an admin's token."""

    valid: str
    forged: dict[str, str]
    admin_token: str
    own_id: int  # a market the plain user created
    other_id: int  # a market someone else created


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _challenge(response: TestResponse) -> str:
    header = response.headers.get("WWW-Authenticate")
    if header is None:
        return "-"
    match = re.search(r'error="([^"]+)"', header)
    return match.group(1) if match else ""


def _credentials(app: Flask, now: datetime) -> _Credentials:
    key = app.config["SECRET_KEY"]
    with app.app_context(), get_db(app).new_session() as session:
        user = session.scalar(select(User).where(User.role == Role.USER).order_by(User.id))
        admin = session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id))
        assert user and admin, "needs demo data with an admin and a plain user"
        own = session.scalar(select(Market).where(Market.creator_id == user.id).limit(1))
        other = session.scalar(select(Market).where(Market.creator_id != user.id)
                               .order_by(Market.id).limit(1))
        assert own and other, "needs demo data with at least 3 markets"
        valid = issue_token(user, now=now)
        claims = {"sub": str(user.id), "iat": now, "exp": now + TOKEN_TTL}
        header, payload, signature = valid.split(".")
        forged = {
            "tampered payload": ".".join([header, _b64({**jwt.decode(valid, options={
                "verify_signature": False}), "sub": str(admin.id)}), signature]),
            "wrong key": jwt.encode(claims, "k" * 64, algorithm=ALGORITHM),
            "alg: none": jwt.encode(claims, None, algorithm="none"),
            "expired": issue_token(user, now=now - 2 * TOKEN_TTL),
            "missing exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, key,
                                      algorithm=ALGORITHM),
            "unknown user": jwt.encode({**claims, "sub": "999999"}, key, algorithm=ALGORITHM),
        }
        return _Credentials(valid, forged, issue_token(admin, now=now), own.id, other.id)


def _rename(client: FlaskClient, case: str, expected: int, market_id: int, marker: str,
            headers: dict[str, str], attack: bool = True) -> Attempt:
    """PUT a new name; the probe reads the market back to see whether the write happened."""
    response = client.put(f"/api/markets/{market_id}", json={"name": marker}, headers=headers)
    name = client.get(f"/api/markets/{market_id}").get_json()["data"]["name"]
    return Attempt(case, expected, response.status_code, _challenge(response),
                   reached=name == marker, attack=attack)


def attack_matrix(app: Flask, *, now: datetime | None = None) -> list[Attempt]:
    """Send each forged, expired or misused credential at protected routes; report what happened."""
    c = _credentials(app, now or datetime.now(UTC))
    valid, own_id = c.valid, c.own_id
    put_cases: list[tuple[str, int, int, dict[str, str]]] = [
        ("no header", 401, own_id, {}),
        ("wrong scheme", 401, own_id, {"Authorization": f"Basic {valid}"}),
        ("token without scheme", 401, own_id, {"Authorization": valid}),
        ("Bearer Bearer <token>", 401, own_id, {"Authorization": f"Bearer Bearer {valid}"}),
        ("empty token", 401, own_id, {"Authorization": "Bearer "}),
        ("garbage", 401, own_id, {"Authorization": "Bearer not-a-jwt"}),
        *[(case, 401, own_id, {"Authorization": f"Bearer {token}"})
          for case, token in c.forged.items()],
        ("someone else's market", 403, c.other_id, {"Authorization": f"Bearer {valid}"}),
    ]
    client = app.test_client()
    results = [_rename(client, case, expected, market_id, f"pwned by {case}"[:200], headers)
               for case, expected, market_id, headers in put_cases]
    response = client.get("/api/admin/users", headers={"Authorization": f"Bearer {valid}"})
    results.append(Attempt("wrong role", 403, response.status_code, _challenge(response),
                           reached=response.status_code == 200))
    # Controls: the same probes with rightful credentials do reach, so the probe can see a bypass.
    for case, market_id, token in (("control: own market", own_id, valid),
                                   ("control: admin, any market", c.other_id, c.admin_token)):
        results.append(_rename(client, case, 200, market_id, f"renamed by {case}",
                               {"Authorization": f"Bearer {token}"}, attack=False))
    return results


def matrix_figures(results: list[Attempt]) -> dict[str, int]:
    """auth.cases (attacks tried) and auth.bypasses (attacks that reached the protected action)."""
    attacks = [r for r in results if r.attack]
    return {"auth.cases": len(attacks), "auth.bypasses": sum(r.reached for r in attacks)}
