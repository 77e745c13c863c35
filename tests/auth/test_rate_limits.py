"""Credential endpoints are limited per client IP, and say when to come back."""

from __future__ import annotations

import os

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.extensions import limiter
from tests.conftest import SignUp

CREDENTIAL_ENDPOINTS = {
    "/api/v1/auth/login": {"json": {"email": "a@example.com", "password": "wrong password"}},
    "/api/v1/auth/token": {"data": {"grant_type": "password", "username": "a", "password": "b"}},
    "/api/v1/auth/signup": {"json": {"email": "not-an-email"}},
    "/api/v1/auth/refresh": {"json": {"refresh_token": "x"}},
    "/api/v1/auth/password-reset": {"json": {"email": "a@example.com"}},
    "/api/v1/auth/password-reset/confirm": {"json": {"token": "x", "password": "long enough"}},
    "/api/v1/auth/verify-email": {"json": {"token": "x"}},
}
RESEND = "/api/v1/auth/verify-email/resend"


@pytest.mark.parametrize("path", CREDENTIAL_ENDPOINTS)
def test_the_fourth_attempt_in_a_minute_is_refused(limited_app: Flask, path: str) -> None:
    client = limited_app.test_client()
    for _ in range(3):
        assert client.post(path, **CREDENTIAL_ENDPOINTS[path]).status_code != 429
    refused = client.post(path, **CREDENTIAL_ENDPOINTS[path])
    assert refused.status_code == 429
    assert refused.content_type == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["status"] == 429


def test_verification_resend_is_limited_per_user(limited_app: Flask, sign_up: SignUp) -> None:
    eager, other = sign_up(), sign_up()
    client = limited_app.test_client()
    assert [client.post(RESEND, headers=eager.headers).status_code for _ in range(4)] == [
        202,
        202,
        202,
        429,
    ]
    assert client.post(RESEND, headers=other.headers).status_code == 202


def test_limits_are_per_client_ip(limited_app: Flask) -> None:
    client = limited_app.test_client()
    login = CREDENTIAL_ENDPOINTS["/api/v1/auth/login"]
    for _ in range(4):
        client.post("/api/v1/auth/login", environ_base={"REMOTE_ADDR": "127.0.0.2"}, **login)
    other = client.post("/api/v1/auth/login", environ_base={"REMOTE_ADDR": "127.0.0.3"}, **login)
    assert other.status_code == 401


def test_disabled_limits_never_refuse(client: FlaskClient) -> None:
    login = CREDENTIAL_ENDPOINTS["/api/v1/auth/login"]
    statuses = {client.post("/api/v1/auth/login", **login).status_code for _ in range(15)}
    assert statuses == {401}


def test_the_429_is_documented(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in [*CREDENTIAL_ENDPOINTS, RESEND]:
        assert "429" in paths[path]["post"]["responses"], path


def test_counters_live_in_the_configured_storage(limited_app: Flask) -> None:
    storage = limited_app.extensions["settings"].ratelimit_storage_uri
    expected = "redis" if os.environ.get("TEST_REDIS_URL") else "memory"
    assert storage.startswith(expected)
    assert type(limiter.storage).__name__.lower().startswith(expected)
