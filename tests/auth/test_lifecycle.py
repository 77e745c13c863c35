"""A user signs up, signs in, refreshes, changes their profile and signs out, over HTTP."""

from __future__ import annotations

import jwt
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.auth.models import User
from app.core.extensions import db
from app.core.settings import Settings
from tests.conftest import PASSWORD, SignUp


def test_sign_up_then_sign_in_then_see_yourself(client: FlaskClient) -> None:
    created = client.post(
        "/api/v1/auth/signup",
        json={"email": "  Ada.Lovelace@Example.COM ", "password": PASSWORD, "name": " Ada "},
    )
    assert created.status_code == 202
    assert created.headers["Cache-Control"] == "no-store"
    assert "Location" not in created.headers  # the same answer whether or not it is new
    assert created.json == {"detail": "Check your inbox: we sent a link to finish signing up."}

    tokens = client.post(
        "/api/v1/auth/login", json={"email": "ADA.lovelace@example.com", "password": PASSWORD}
    )
    assert tokens.status_code == 200
    assert tokens.headers["Cache-Control"] == "no-store"
    body = tokens.json
    assert body is not None
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json is not None
    assert me.json["email"] == "ada.lovelace@example.com"
    assert me.json["name"] == "Ada"
    assert me.json["role"] == "user"
    assert "password" not in me.json
    assert "password_hash" not in me.json


def test_tokens_carry_the_documented_claims(sign_up: SignUp) -> None:
    account = sign_up()
    access = jwt.decode(account.access_token, options={"verify_signature": False})
    refresh = jwt.decode(account.refresh_token, options={"verify_signature": False})
    for claims, kind in ((access, "access"), (refresh, "refresh")):
        assert {"sub", "role", "type", "jti", "iat", "nbf", "exp", "fam"} <= claims.keys()
        assert claims["type"] == kind
        assert claims["sub"] == str(account.id)
    assert access["fam"] == refresh["fam"]
    assert access["exp"] - access["iat"] == 900
    assert refresh["exp"] - refresh["iat"] == 14 * 24 * 3600
    assert jwt.get_unverified_header(account.access_token)["alg"] == "HS256"


def test_password_length_follows_nist_without_composition_rules(client: FlaskClient) -> None:
    def attempt(password: str) -> int:
        return client.post(
            "/api/v1/auth/signup",
            json={"email": f"len{len(password)}@example.com", "password": password, "name": "N"},
        ).status_code

    assert attempt("a" * 7) == 422
    assert attempt("a" * 8) == 202
    assert attempt("🔑" * 128) == 202
    assert attempt("a" * 129) == 422


def test_invalid_emails_are_refused(client: FlaskClient) -> None:
    for email in ("not-an-email", "a@b", "@example.com", 42):
        response = client.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "N"}
        )
        assert response.status_code == 422
        assert response.json is not None
        assert "email" in response.json["errors"]["json"]


def test_a_wrong_password_and_an_unknown_email_look_the_same(
    client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    wrong = client.post("/api/v1/auth/login", json={"email": account.email, "password": "x" * 9})
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 9}
    )
    assert wrong.status_code == unknown.status_code == 401
    wrong_body, unknown_body = wrong.get_json(), unknown.get_json()
    del wrong_body["request_id"], unknown_body["request_id"]
    assert wrong_body == unknown_body


def test_refresh_rotates_and_the_new_pair_works(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert rotated.status_code == 200
    pair = rotated.json
    assert pair is not None
    assert pair["refresh_token"] != account.refresh_token
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200


def test_logout_revokes_the_access_token_and_the_refresh_family(
    client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    rotated = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert rotated.json is not None
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=account.headers).status_code == 401
    newer = {"Authorization": f"Bearer {rotated.json['access_token']}"}
    assert client.get("/api/v1/users/me", headers=newer).status_code == 401
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated.json["refresh_token"]}
    )
    assert refreshed.status_code == 401


def test_logout_ends_only_that_sign_in(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    laptop = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert laptop.json is not None
    client.post("/api/v1/auth/logout", headers=account.headers)
    headers = {"Authorization": f"Bearer {laptop.json['access_token']}"}
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200


def test_change_name_and_password(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    other_session = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    ).json
    assert other_session is not None
    renamed = client.patch("/api/v1/users/me", json={"name": "  Grace "}, headers=account.headers)
    assert renamed.status_code == 200
    assert renamed.json is not None
    assert renamed.json["name"] == "Grace"

    missing = client.patch(
        "/api/v1/users/me", json={"password": {"new": "new password 1"}}, headers=account.headers
    )
    assert missing.status_code == 422
    assert "current" in missing.get_json()["errors"]["json"]["password"]
    wrong = client.patch(
        "/api/v1/users/me",
        json={"password": {"current": "not it at all", "new": "new password 1"}},
        headers=account.headers,
    )
    assert wrong.status_code == 403
    changed = client.patch(
        "/api/v1/users/me",
        json={"password": {"current": PASSWORD, "new": "new password 1"}},
        headers=account.headers,
    )
    assert changed.status_code == 200

    old = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    new = client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "new password 1"}
    )
    assert old.status_code == 401
    assert new.status_code == 200
    # The session that changed the password stays; the other one is signed out.
    assert client.get("/api/v1/users/me", headers=account.headers).status_code == 200
    other = {"Authorization": f"Bearer {other_session['access_token']}"}
    assert client.get("/api/v1/users/me", headers=other).status_code == 401


def stored_hash(app: Flask, email: str) -> str:
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash).where(User.email == email))
    assert stored is not None
    return stored


def test_tests_hash_cheaply_and_other_environments_upgrade_such_hashes_at_login(
    app: Flask, client: FlaskClient, sign_up: SignUp, settings: Settings
) -> None:
    """APP_ENV=test hashes with argon2's cheapest parameters; any other environment hashes
    with OWASP's (19 MiB, 2 iterations, 1 lane), and a user logs in with either, a cheap hash
    being replaced at that login."""
    account = sign_up()
    assert stored_hash(app, account.email).startswith("$argon2id$v=19$m=8,t=1,p=1$")
    production_like = create_app(settings.model_copy(update={"app_env": "development"}))
    login = {"email": account.email, "password": PASSWORD}

    assert production_like.test_client().post("/api/v1/auth/login", json=login).status_code == 200
    assert stored_hash(app, account.email).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # The upgraded hash checks out in both environments.
    assert production_like.test_client().post("/api/v1/auth/login", json=login).status_code == 200
    assert client.post("/api/v1/auth/login", json=login).status_code == 200
    wrong = {**login, "password": "not the password"}
    assert production_like.test_client().post("/api/v1/auth/login", json=wrong).status_code == 401


def test_a_blank_name_is_refused(client: FlaskClient) -> None:
    for name in ("", "   ", "\u001d\t", "Ada\u0000"):
        response = client.post(
            "/api/v1/auth/signup",
            json={"email": "blank@example.com", "password": PASSWORD, "name": name},
        )
        assert response.status_code == 422
        assert "name" in response.get_json()["errors"]["json"]


def test_a_nul_in_the_email_is_just_a_wrong_login(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/login", json={"email": "a\u0000@b.c", "password": "x" * 9})
    assert response.status_code == 401
    token = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": "\u0000", "password": "p"}
    )
    assert token.status_code == 400
    assert token.get_json()["error"] == "invalid_grant"
