"""Every forged, stale, misused or revoked token is refused with the same RFC 6750 answer."""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.auth.models import User
from app.core.extensions import db
from tests.conftest import TEST_SECRET, SignUp

ME = "/api/v1/users/me"


def assert_invalid_token(response: TestResponse) -> None:
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_missing_token(client: FlaskClient) -> None:
    assert_invalid_token(client.get(ME))


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer not.a.jwt", "Bearer a.b", "Basic dXNlcjpwYXNz", "Bearer ☃"],
)
def test_malformed_authorization_is_401_not_422(client: FlaskClient, header: str) -> None:
    assert_invalid_token(client.get(ME, headers={"Authorization": header}))


def test_alg_none_is_refused(client: FlaskClient, sign_up: SignUp) -> None:
    claims = claims_of(sign_up().access_token)
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_invalid_token(client.get(ME, headers=bearer(unsigned)))


def test_a_token_signed_with_another_key(client: FlaskClient, sign_up: SignUp) -> None:
    claims = claims_of(sign_up().access_token)
    forged = jwt.encode(claims, "another key that is long enough to be used", algorithm="HS256")
    assert_invalid_token(client.get(ME, headers=bearer(forged)))


def test_a_token_with_another_algorithm(client: FlaskClient, sign_up: SignUp) -> None:
    claims = claims_of(sign_up().access_token)
    with warnings.catch_warnings():  # the right key, so only the algorithm is wrong
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        other = jwt.encode(claims, TEST_SECRET, algorithm="HS512")
    assert_invalid_token(client.get(ME, headers=bearer(other)))


def test_a_tampered_payload(client: FlaskClient, sign_up: SignUp) -> None:
    victim = sign_up()
    attacker = sign_up()
    header, _payload, signature = attacker.access_token.split(".")
    tampered = f"{header}.{b64({**claims_of(attacker.access_token), 'sub': str(victim.id)})}"
    assert_invalid_token(client.get(ME, headers=bearer(f"{tampered}.{signature}")))


def test_an_expired_token(client: FlaskClient, sign_up: SignUp) -> None:
    claims = claims_of(sign_up().access_token)
    past = int(time.time()) - 3600
    expired = jwt.encode({**claims, "iat": past, "nbf": past, "exp": past + 60}, TEST_SECRET)
    response = client.get(ME, headers=bearer(expired))
    assert_invalid_token(response)
    assert response.json is not None
    assert "expired" in response.json["detail"]


def test_a_refresh_token_is_not_an_access_token(client: FlaskClient, sign_up: SignUp) -> None:
    assert_invalid_token(client.get(ME, headers=bearer(sign_up().refresh_token)))


def test_an_access_token_is_not_a_refresh_token(client: FlaskClient, sign_up: SignUp) -> None:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": sign_up().access_token})
    assert_invalid_token(response)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_garbage_at_refresh(client: FlaskClient, token: str) -> None:
    assert_invalid_token(client.post("/api/v1/auth/refresh", json={"refresh_token": token}))


def test_a_spent_refresh_token_revokes_its_whole_family(
    client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert rotated.status_code == 200
    pair = rotated.get_json()
    # An attacker replays the stolen, already-used refresh token...
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_invalid_token(replay)
    # ...which ends the sign-in for the thief and the victim alike.
    legit = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_invalid_token(legit)
    assert_invalid_token(client.get(ME, headers=bearer(pair["access_token"])))
    assert_invalid_token(client.get(ME, headers=account.headers))


def test_a_logged_out_token_stays_out(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    assert_invalid_token(client.get(ME, headers=account.headers))
    assert_invalid_token(client.post("/api/v1/auth/logout", headers=account.headers))


@pytest.mark.parametrize(
    "change",
    [
        lambda user: setattr(user, "is_active", False),
        lambda user: db.session.delete(user),
    ],
    ids=["deactivated", "deleted"],
)
def test_tokens_of_a_deactivated_or_deleted_user(
    app: Flask, client: FlaskClient, sign_up: SignUp, change: Callable[[User], None]
) -> None:
    account = sign_up()
    with app.app_context():
        user = db.session.get(User, account.id)
        assert user is not None
        change(user)
        db.session.commit()
    assert_invalid_token(client.get(ME, headers=account.headers))
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert_invalid_token(refresh)


@pytest.mark.parametrize(
    "escalation",
    [{"role": "admin"}, {"is_active": True}, {"email": "admin@example.com"}, {"id": 1}],
)
def test_no_escalation_through_patch_me(
    client: FlaskClient, sign_up: SignUp, escalation: dict[str, Any]
) -> None:
    account = sign_up()
    response = client.patch(ME, json=escalation, headers=account.headers)
    assert response.status_code == 422
    assert response.json is not None
    assert next(iter(escalation)) in response.json["errors"]["json"]
    me = client.get(ME, headers=account.headers).get_json()
    assert me["role"] == "user"
    assert me["email"] == account.email


def test_a_role_claim_cannot_be_forged_into_admin(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    forged = jwt.encode({**claims_of(account.access_token), "role": "admin"}, "g" * 32)
    assert_invalid_token(client.get("/api/v1/users", headers=bearer(forged)))
    assert client.get("/api/v1/users", headers=account.headers).status_code == 403
