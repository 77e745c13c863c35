"""Every response tells the browser not to sniff, frame or leak it; what is personal is never
cached; no cookie carries state; production can keep its API description to itself."""

from __future__ import annotations

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import PASSWORD, SignUp, make_settings

pytestmark = pytest.mark.embedded_only

HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/livez"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/page"),
        ("DELETE", "/livez"),
        ("GET", "/api/v1/users/me"),
        ("POST", "/api/v1/auth/login"),
    ],
)
def test_every_response_is_hardened(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method)
    for name, value in HARDENING.items():
        assert response.headers[name] == value, name
    # Plain HTTP: HSTS is only sent over https, where it can mean something.
    assert "Strict-Transport-Security" not in response.headers


def test_https_responses_pin_https(client: FlaskClient) -> None:
    response = client.get("/livez", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_tokens_and_personal_data_are_never_cached(client: FlaskClient, sign_up: SignUp) -> None:
    signed_up = client.post(
        "/api/v1/auth/signup",
        json={"email": "cache@example.com", "password": PASSWORD, "name": "Ada"},
    )
    assert signed_up.headers["Cache-Control"] == "no-store"
    account = sign_up()
    personal = [
        client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}),
        client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}),
        client.get("/api/v1/users/me", headers=account.headers),
        client.get("/api/v1/books", headers=account.headers),
    ]
    for response in personal:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
    # What is the same for everyone may be cached.
    assert "Cache-Control" not in client.get("/livez").headers


def test_no_cookie_carries_state(app: Flask) -> None:
    # A session cookie signed with the app's own key, as Flask's default would have read it.
    signed = SecureCookieSessionInterface().get_signing_serializer(app)
    assert signed is not None
    cookie = f"session={signed.dumps({'user_id': 1})}"
    with app.test_request_context("/livez", headers={"Cookie": cookie}):
        assert dict(session) == {}
        with pytest.raises(RuntimeError):
            session["user_id"] = 2  # a view cannot start keeping state in a cookie either


@pytest.mark.no_shared_db
def test_docs_can_be_hidden() -> None:
    hidden = create_app(make_settings(database_url="sqlite://", docs_enabled=False)).test_client()
    for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui.css"):
        response = hidden.get(path)
        assert response.status_code == 404, path
        assert response.content_type == "application/problem+json"
    assert hidden.get("/livez").status_code == 200
    shown = create_app(make_settings(database_url="sqlite://")).test_client()
    assert shown.get("/openapi.json").status_code == 200
    with shown.get("/docs/assets/swagger-ui.css") as asset:
        assert asset.status_code == 200
