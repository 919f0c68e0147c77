"""Lesson 04: bearer tokens, require_auth / require_role, object-level rules, the attack matrix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import wraps

import jwt
import pytest
from flask import Flask, g, jsonify, request
from flask.testing import FlaskClient

from evidence.auth_middleware import Attempt, attack_matrix, matrix_figures
from evidence.auth_middleware_exercise import check_require_any_role
from evidence.grading import WrongAnswer
from evidence.lab import AuthActions
from patterns.auth_middleware import (
    bearer_token,
    issue_token,
    require_auth,
    require_role,
    verify_token,
)
from patterns.db import get_db
from patterns.error_handling import ApiError
from patterns.models import Role, User
from patterns.seed import auth_middleware as seed

KEY = "k" * 40


@pytest.fixture
def matrix(make_app: Callable[..., Flask]) -> list[Attempt]:
    """One run of the attack matrix on its own app (it renames markets)."""
    return attack_matrix(make_app(DEMO_ROWS=5))


CASES = ["no header", "wrong scheme", "token without scheme", "Bearer Bearer <token>",
         "empty token", "garbage", "tampered payload", "wrong key", "alg: none", "expired",
         "missing exp", "unknown user", "someone else's market", "wrong role"]


def test_the_matrix_tries_every_case_the_lesson_names(matrix: list[Attempt]) -> None:
    assert [r.case for r in matrix if r.attack] == CASES


@pytest.mark.parametrize("case", CASES)
def test_no_attack_reaches_the_protected_action(matrix: list[Attempt], case: str) -> None:
    attempt = next(r for r in matrix if r.case == case)
    assert attempt.status == attempt.expected, attempt
    assert not attempt.reached, attempt


def test_401s_carry_a_bearer_challenge_and_403s_do_not(matrix: list[Attempt]) -> None:
    for attempt in matrix:
        if attempt.status == 401:
            assert attempt.challenge in ("", "invalid_token"), attempt
        else:
            assert attempt.challenge == "-", attempt


def test_the_controls_show_the_probe_sees_a_real_write(matrix: list[Attempt]) -> None:
    controls = [r for r in matrix if not r.attack]
    assert controls and all(r.reached and r.status == 200 for r in controls)


def test_matrix_figures(matrix: list[Attempt]) -> None:
    assert matrix_figures(matrix) == {"auth.cases": len(CASES), "auth.bypasses": 0}


@pytest.mark.parametrize("header, token", [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER abc", "abc"),
    ("Bearer Bearer abc", "Bearer abc"), ("Bearer ", ""),
    (None, None), ("", None), ("abc", None), ("Basic abc", None), ("Bearerabc", None),
])
def test_bearer_token_takes_only_the_bearer_scheme(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_lowercase_scheme_is_accepted(client: FlaskClient, auth) -> None:
    token = auth.headers()["Authorization"].split(" ", 1)[1]
    response = client.delete("/api/markets/2", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 204


def test_anonymous_gets_401_with_a_challenge_without_error_code(client: FlaskClient) -> None:
    response = client.post("/api/markets", json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="markets"'
    assert response.mimetype == "application/problem+json"


def test_an_expired_token_is_named_in_detail_and_challenge(app: Flask, client: FlaskClient) -> None:
    with app.app_context(), get_db(app).new_session() as session:
        token = issue_token(session.get(User, 2), now=datetime.now(UTC) - timedelta(hours=2))
    response = client.post("/api/markets", json={"name": "x"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.get_json()["detail"] == "token expired"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_verify_token_rejects_other_algorithms_even_with_the_right_key() -> None:
    claims = {"sub": "1", "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)}
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify_token(jwt.encode(claims, KEY + "-for-hs512-" + KEY, algorithm="HS512"),
                     key=KEY + "-for-hs512-" + KEY)
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify_token(jwt.encode(claims, None, algorithm="none"), key=KEY)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_verify_token_requires_exp_iat_and_sub(missing: str) -> None:
    claims = {"sub": "1", "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)}
    del claims[missing]
    with pytest.raises(jwt.MissingRequiredClaimError):
        verify_token(jwt.encode(claims, KEY, algorithm="HS256"), key=KEY)


def test_a_short_key_is_refused_at_startup_and_when_signing(make_app) -> None:
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        make_app(SECRET_KEY="short")
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        issue_token(User(id=1, name="x", email="x@example.com", role=Role.USER), key="short")


def test_tokens_name_the_user_and_carry_no_role() -> None:
    token = issue_token(User(id=7, name="x", email="x@example.com", role=Role.ADMIN), key=KEY)
    assert set(verify_token(token, key=KEY)) == {"sub", "iat", "exp"}


def test_a_role_claim_in_a_valid_token_does_not_make_an_admin(app: Flask,
                                                              client: FlaskClient) -> None:
    # Signed with the app's key, as an identity provider's token with a roles claim would be.
    now = datetime.now(UTC)
    with app.app_context(), get_db(app).new_session() as session:
        user = session.get(User, 2)
        assert user is not None and user.role == Role.USER
    claims = {"sub": "2", "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    token = jwt.encode(claims, app.config["SECRET_KEY"], algorithm="HS256")
    response = client.get("/api/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


def test_require_role_rejects_an_unknown_role_when_decorating() -> None:
    with pytest.raises(ValueError):
        require_role("superuser")


def test_a_token_for_a_deleted_user_is_401(app: Flask, client: FlaskClient, auth) -> None:
    headers = auth.headers("user4@example.com")
    with app.app_context(), get_db(app).new_session() as session:
        user = session.get(User, 4)
        for market in user.markets:
            session.delete(market)
        for position in user.positions:
            session.delete(position)
        session.delete(user)
        session.commit()
    response = client.post("/api/markets", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["detail"] == "token names an unknown user"


# ---- object-level authorization ----

def test_a_user_deletes_their_own_market(client: FlaskClient, auth) -> None:
    response = client.delete("/api/markets/2", headers=auth.headers("user2@example.com"))
    assert response.status_code == 204


def test_someone_elses_market_is_403_and_unchanged(client: FlaskClient, auth) -> None:
    before = client.get("/api/markets/3").get_json()["data"]
    headers = auth.headers("user2@example.com")
    response = client.put("/api/markets/3", json={"name": "mine now"}, headers=headers)
    assert response.status_code == 403
    assert client.delete("/api/markets/3", headers=headers).status_code == 403
    assert client.get("/api/markets/3").get_json()["data"] == before


def test_a_missing_market_is_404_before_any_ownership_question(client: FlaskClient, auth) -> None:
    response = client.delete("/api/markets/9999", headers=auth.headers("user2@example.com"))
    assert response.status_code == 404


def test_an_admin_may_change_any_market(client: FlaskClient, auth) -> None:
    response = client.put("/api/markets/3", json={"name": "Moderated"}, headers=auth.admin())
    assert response.status_code == 200
    assert response.get_json()["data"]["name"] == "Moderated"


# ---- GET /api/admin/users ----

def test_admin_users_lists_users_with_exactly_the_admin_fields(client: FlaskClient, auth) -> None:
    response = client.get("/api/admin/users?limit=3", headers=auth.admin())
    assert response.status_code == 200
    users = response.get_json()["data"]
    assert [u["email"] for u in users] == [f"user{i}@example.com" for i in (1, 2, 3)]
    assert all(set(u) == {"id", "name", "email", "role"} for u in users)
    assert response.get_json()["meta"] == {"limit": 3, "offset": 0, "count": 3}


def test_admin_users_is_403_for_a_user_and_401_for_anonymous(client: FlaskClient, auth) -> None:
    assert client.get("/api/admin/users", headers=auth.headers()).status_code == 403
    anonymous = client.get("/api/admin/users")
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers


def test_admin_users_validates_paging(client: FlaskClient, auth) -> None:
    response = client.get("/api/admin/users?limit=1000", headers=auth.admin())
    assert response.status_code == 400
    assert "limit" in response.get_json()["errors"]


def test_emails_appear_nowhere_outside_the_admin_endpoint(client: FlaskClient) -> None:
    assert b"@example.com" not in client.get("/api/markets?limit=100").get_data()
    assert b"@example.com" not in client.get("/api/markets/1").get_data()


# ---- the seed's decorators: the pitfalls the lesson shows ----

@pytest.fixture
def seed_client() -> Iterator[FlaskClient]:
    app = seed.seed_app(rows=4)
    yield app.test_client()
    get_db(app).close()


def _token(client: FlaskClient) -> str:
    with client.application.app_context(), get_db(client.application).new_session() as session:
        return issue_token(session.get(User, 2))


def test_seed_accepts_a_token_without_scheme_and_a_doubled_scheme(seed_client: FlaskClient) -> None:
    token = _token(seed_client)
    for header in (token, f"Bearer Bearer {token}"):
        assert seed_client.get("/api/whoami", headers={"Authorization": header}).status_code == 200


def test_seed_rejects_a_lowercase_scheme_rfc_allows(seed_client: FlaskClient) -> None:
    token = _token(seed_client)
    response = seed_client.get("/api/whoami", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 401


def test_seed_401_has_no_challenge(seed_client: FlaskClient) -> None:
    response = seed_client.get("/api/whoami")
    assert response.status_code == 401 and "WWW-Authenticate" not in response.headers


# ---- the CLI that `make serve` users need ----

def test_issue_token_cli_prints_a_token_that_verifies(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["issue-token", "user1@example.com"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert verify_token(result.output.strip())["sub"] == "1"


def test_issue_token_cli_refuses_an_unknown_email(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["issue-token", "nobody@example.com"])
    assert result.exit_code != 0 and "no user with email" in result.output



# ---- the exercise's check ------------------------------------------------------------------




def ref(*roles):
    wanted = {Role(r) for r in roles}

    def decorator(f):
        @wraps(f)
        @require_auth
        def decorated(*args, **kwargs):
            if g.current_user.role not in wanted:
                raise ApiError("no", 403)
            return f(*args, **kwargs)

        return decorated

    return decorator


def seedstyle(*roles):
    wanted = {Role(r) for r in roles}

    def decorator(f):
        @wraps(f)
        @require_auth
        def decorated(*args, **kwargs):
            if g.current_user.role not in wanted:
                return jsonify({"error": "Forbidden"}), 403
            return f(*args, **kwargs)

        return decorated

    return decorator


def claim(*roles):  # reads the role from the token, which has none
    wanted = {Role(r) for r in roles}

    def decorator(f):
        @wraps(f)
        @require_auth
        def decorated(*args, **kwargs):
            if verify_token(bearer_token(request.headers["Authorization"]))["role"] not in wanted:
                raise ApiError("no", 403)
            return f(*args, **kwargs)

        return decorated

    return decorator


def claim_first(*roles):  # trusts a role claim when a token carries one (a provider's might)
    wanted = {Role(r) for r in roles}

    def decorator(f):
        @wraps(f)
        @require_auth
        def decorated(*args, **kwargs):
            claims = verify_token(bearer_token(request.headers["Authorization"]))
            if Role(claims.get("role") or g.current_user.role) not in wanted:
                raise ApiError("no", 403)
            return f(*args, **kwargs)

        return decorated

    return decorator


def stub(*roles):
    raise NotImplementedError("your code here")


def alt(*roles):  # correct, written differently: a tuple of role values, abort-free early return
    allowed = tuple(Role(r).value for r in roles)

    def decorator(view):
        @require_auth
        def inner(*args, **kwargs):
            if g.current_user.role.value in allowed:
                return view(*args, **kwargs)
            raise ApiError("not for your role", 403)

        return wraps(view)(inner)

    return decorator


def _variant(
    refuse=lambda: ApiError("no", 403), returns=True, auth=True, keep_name=True, validate=True
):
    def factory(*roles):
        wanted = {Role(r) for r in roles} if validate else set(roles)

        def decorator(f):
            def decorated(*args, **kwargs):
                if g.get("current_user") is None or g.current_user.role not in wanted:
                    raise refuse()
                result = f(*args, **kwargs)
                return result if returns else None

            if auth:
                decorated = require_auth(decorated)
            return wraps(f)(decorated) if keep_name else decorated

        return decorator

    return factory


not_found = _variant(refuse=lambda: ApiError("no", 404))
not_found.__name__ = "not_found"
no_return = _variant(returns=False)
no_return.__name__ = "no_return"
no_auth = _variant(auth=False)
no_auth.__name__ = "no_auth"
no_wraps = _variant(keep_name=False)
no_wraps.__name__ = "no_wraps"
no_check = _variant(validate=False)
no_check.__name__ = "no_check"


WRONG_ANSWERS = [
    (stub, "is not written yet"),
    (seedstyle, "expected the 403 in application/problem+json"),
    (claim, "raised KeyError"),  # this app's tokens carry no role to read
    (claim_first, "whose token claims the role 'admin'"),
    (not_found, "expected a 403 for a signed-in user"),
    (no_return, "yours returned None"),
    (no_auth, "expected a 401 for an anonymous request"),
    (no_wraps, "keep its name 'probe'"),
    (no_check, "to fail when decorating"),
]


def test_the_exercise_check_passes_the_reference_and_another_correct_answer(make_app) -> None:
    app = make_app()
    for answer in (ref, alt):
        check_require_any_role(answer, app)


def test_the_exercise_check_fails_the_stub_and_each_wrong_answer_with_its_message(make_app) -> None:
    app = make_app()
    for answer, message in WRONG_ANSWERS:
        with pytest.raises(WrongAnswer) as caught:
            check_require_any_role(answer, app)
        assert message in caught.value.reason, (answer.__name__, caught.value.reason)


@pytest.mark.parametrize("header, token", [("Bearer  abc.def.ghi", "abc.def.ghi"),
                                           ("bearer abc.def.ghi", "abc.def.ghi"),
                                           ("Basic abc", None)])
def test_bearer_takes_one_or_more_spaces_before_the_token(header: str, token: str | None) -> None:
    assert bearer_token(header) == token  # RFC 6750 §2.1: "Bearer" 1*SP b64token


def test_two_spaces_after_bearer_still_authenticate(client: FlaskClient,
                                                   auth: AuthActions) -> None:
    token = auth.headers()["Authorization"].split(" ", 1)[1]
    answer = client.post("/api/markets", json={"name": "Two spaces"},
                         headers={"Authorization": f"Bearer  {token}"})
    assert answer.status_code == 201
