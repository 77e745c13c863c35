"""Behind a load balancer, the service sees the real client and the public URL; without one,
forwarding headers a client makes up change nothing.

Requests arrive from 127.0.0.1, the proxy's address (FORWARDED_ALLOW_IPS' default), carrying
the X-Forwarded-* values a proxy appends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import Account, SignUp, app_with_limits

LOGIN = {"email": "nobody@example.com", "password": "wrong password"}
PROXY = {"REMOTE_ADDR": "127.0.0.1"}
PUBLIC = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "api.example.com",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/shelf",
}


@pytest.fixture
def direct(database_url: str) -> Iterator[Flask]:
    """No proxy in front (TRUSTED_PROXIES=0, the default)."""
    yield from app_with_limits(database_url)


@pytest.fixture
def proxied(database_url: str) -> Iterator[Flask]:
    """One proxy in front (TRUSTED_PROXIES=1)."""
    yield from app_with_limits(database_url, trusted_proxies=1)


def log_in(client: FlaskClient, forwarded_for: str) -> int:
    response = client.post(
        "/api/v1/auth/login",
        json=LOGIN,
        headers={"X-Forwarded-For": forwarded_for},
        environ_base=PROXY,
    )
    return response.status_code


def test_without_a_proxy_made_up_client_addresses_share_one_bucket(direct: Flask) -> None:
    client = direct.test_client()
    statuses = [log_in(client, f"198.51.100.{number}") for number in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_behind_a_proxy_two_clients_are_limited_separately(proxied: Flask) -> None:
    client = proxied.test_client()
    assert [log_in(client, "203.0.113.5") for _ in range(4)] == [401, 401, 401, 429]
    assert log_in(client, "203.0.113.6") == 401
    # A client that sends its own X-Forwarded-For gets the proxy's value appended after it;
    # only the last hop counts, so the made-up address opens no new bucket.
    assert log_in(client, "198.51.100.1, 203.0.113.5") == 429


def test_forwarding_headers_from_an_address_that_is_not_the_proxy_are_ignored(
    database_url: str,
) -> None:
    for app in app_with_limits(database_url, trusted_proxies=1, forwarded_allow_ips="10.0.0.0/8"):
        client = app.test_client()
        statuses = [log_in(client, f"198.51.100.{number}") for number in range(4)]
        assert statuses == [401, 401, 401, 429]
        livez = client.get("/livez", headers=PUBLIC, environ_base=PROXY)
        assert "Strict-Transport-Security" not in livez.headers


def shelf_of_two(client: FlaskClient, account: Account) -> None:
    for title in ("First", "Second"):
        created = client.post(
            "/api/v1/books", json={"title": title, "author": "A"}, headers=account.headers
        )
        assert created.status_code == 201


def test_behind_a_proxy_links_and_locations_use_the_public_url(
    proxied: Flask, sign_up: SignUp
) -> None:
    client = proxied.test_client()
    reader = sign_up()
    shelf_of_two(client, reader)
    page = client.get(
        "/api/v1/books?page_size=1", headers={**reader.headers, **PUBLIC}, environ_base=PROXY
    )
    assert page.headers["Link"] == (
        '<https://api.example.com/shelf/api/v1/books?page_size=1&page=2>; rel="next"'
    )
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    created = client.post(
        "/api/v1/books",
        json={"title": "Third", "author": "A"},
        headers={**reader.headers, **PUBLIC},
        environ_base=PROXY,
    )
    # A relative reference, resolved by the client against the public URL it called.
    assert created.headers["Location"] == f"/shelf/api/v1/books/{created.get_json()['id']}"


def test_without_a_proxy_made_up_public_urls_change_nothing(direct: Flask, sign_up: SignUp) -> None:
    client = direct.test_client()
    reader = sign_up()
    shelf_of_two(client, reader)
    page = client.get(
        "/api/v1/books?page_size=1", headers={**reader.headers, **PUBLIC}, environ_base=PROXY
    )
    assert page.headers["Link"] == '<http://localhost/api/v1/books?page_size=1&page=2>; rel="next"'
    assert "Strict-Transport-Security" not in page.headers


def test_the_access_log_names_the_real_client(
    proxied: Flask, direct: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        proxied.test_client().get(
            "/livez", headers={"X-Forwarded-For": "203.0.113.9"}, environ_base=PROXY
        )
        direct.test_client().get(
            "/livez", headers={"X-Forwarded-For": "203.0.113.9"}, environ_base=PROXY
        )
    assert [record.__dict__["client.ip"] for record in caplog.records] == [
        "203.0.113.9",
        "127.0.0.1",
    ]
