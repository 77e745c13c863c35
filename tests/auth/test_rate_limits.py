"""Credential endpoints are limited per client IP, and say when to come back."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.extensions import limiter
from tests.conftest import app_with_limits, redis_namespace

CREDENTIAL_ENDPOINTS = {
    "/api/v1/auth/login": {"json": {"email": "a@example.com", "password": "wrong password"}},
    "/api/v1/auth/token": {"data": {"grant_type": "password", "username": "a", "password": "b"}},
    "/api/v1/auth/signup": {"json": {"email": "not-an-email"}},
    "/api/v1/auth/refresh": {"json": {"refresh_token": "x"}},
    "/api/v1/auth/password-reset": {"json": {"email": "a@example.com"}},
    "/api/v1/auth/password-reset/confirm": {"json": {"token": "x", "password": "long enough"}},
    "/api/v1/auth/verify-email": {"json": {"token": "x"}},
    "/api/v1/auth/verify-email/resend": {},
}


@pytest.fixture
def limited_app(database_url: str) -> Iterator[Flask]:
    """Limits counted in memory:// or, given TEST_REDIS_URL, under a Redis key prefix of this
    test's own."""
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        yield from app_with_limits(database_url, ratelimit_storage_uri="memory://")
        return
    with redis_namespace(redis_url) as namespace:
        yield from app_with_limits(
            database_url,
            ratelimit_storage_uri=namespace.url,
            redis_key_prefix=namespace.key_prefix,
        )


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
    for path in CREDENTIAL_ENDPOINTS:
        assert "429" in paths[path]["post"]["responses"], path


def test_counters_live_in_the_configured_storage(limited_app: Flask) -> None:
    storage = limited_app.extensions["settings"].ratelimit_storage_uri
    expected = "redis" if os.environ.get("TEST_REDIS_URL") else "memory"
    assert storage.startswith(expected)
    assert type(limiter.storage).__name__.lower().startswith(expected)
