"""A sign-in ends: at logout at once, when an admin deactivates the account for good, and
SESSION_MAX_AGE after the login however often it was refreshed."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import PASSWORD, TEST_SECRET, Account, SignUp, make_settings

ME = "/api/v1/users/me"
HOUR = 3600


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client: FlaskClient, refresh_token: str) -> tuple[int, dict[str, str]]:
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    return response.status_code, response.get_json()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_logout_refuses_the_access_token_at_once(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    assert client.get(ME, headers=account.headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    # The very next request with the same, unexpired access token is refused.
    refused = client.get(ME, headers=account.headers)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert refresh(client, account.refresh_token)[0] == 401


def set_active(client: FlaskClient, admin: Account, user: Account, active: bool) -> None:
    response = client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": active}, headers=admin.headers
    )
    assert response.status_code == 200


def test_deactivation_ends_every_sign_in_and_reactivation_revives_none(
    client: FlaskClient, sign_up: SignUp
) -> None:
    admin = sign_up(admin=True)
    user = sign_up()
    laptop = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    phone = laptop.get_json()

    set_active(client, admin, user, active=False)
    set_active(client, admin, user, active=True)

    for session in (
        user,
        Account(user.id, user.email, phone["access_token"], phone["refresh_token"]),
    ):
        assert client.get(ME, headers=session.headers).status_code == 401
        assert refresh(client, session.refresh_token)[0] == 401
    # Signing in again works: the account is active, only the old sign-ins are over.
    again = client.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
    assert again.status_code == 200
    assert client.get(ME, headers=bearer(again.get_json()["access_token"])).status_code == 200


@pytest.fixture
def short_sessions(database_url: str) -> Flask:
    """Sign-ins that last an hour at most, with 15-minute access tokens."""
    return create_app(make_settings(database_url=database_url, session_max_age=HOUR))


def test_no_token_outlives_the_sign_in(short_sessions: Flask, sign_up: SignUp) -> None:
    client = short_sessions.test_client()
    email = sign_up().email
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    first = login.get_json()
    signed_in_at = claims_of(first["refresh_token"])["auth_time"]
    assert claims_of(first["refresh_token"])["exp"] == signed_in_at + HOUR

    status, second = refresh(client, first["refresh_token"])
    assert status == 200
    # Refreshing keeps the moment of sign-in, and with it the sign-in's end.
    for token in (second["access_token"], second["refresh_token"]):
        assert claims_of(token)["auth_time"] == signed_in_at
        assert int(claims_of(token)["exp"]) <= int(signed_in_at) + HOUR


def signed_in_long_ago(refresh_token: str, seconds: int) -> str:
    """The same refresh token, as if its sign-in had begun ``seconds`` ago.

    Re-signed with the test key: the service's own tokens never claim that, so this is the
    only way to reach the end of a sign-in without waiting for it.
    """
    claims = claims_of(refresh_token)
    claims["auth_time"] = int(time.time()) - seconds
    return jwt.encode(claims, TEST_SECRET, algorithm="HS256")


def test_a_sign_in_older_than_session_max_age_cannot_be_refreshed(
    short_sessions: Flask, sign_up: SignUp
) -> None:
    client = short_sessions.test_client()
    email = sign_up().email
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    tokens = login.get_json()

    status, problem = refresh(client, signed_in_long_ago(tokens["refresh_token"], HOUR + 1))
    assert status == 401
    assert "sign in again" in problem["detail"]
    # A sign-in younger than the limit still refreshes.
    assert refresh(client, signed_in_long_ago(tokens["refresh_token"], HOUR - 60))[0] == 200


def test_session_max_age_defaults_to_thirty_days(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    old = signed_in_long_ago(account.refresh_token, 30 * 24 * HOUR + 1)
    assert refresh(client, old)[0] == 401
