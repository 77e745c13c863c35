"""A database that is away is a 503 the client can retry, not a 500 that says "bug".

Each answer is problem+json with Retry-After and the request id, says nothing of the driver,
and is logged once, at error level, with the exception class. Statements the database refuses
(bugs) keep their 500. The process tests (tests/process/test_outages.py) stop and restart a
real server under the Procfile's web process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from app.auth.tokens import issue
from app.core.database import is_lock_conflict
from app.core.extensions import db
from tests.conftest import PASSWORD, free_port, make_settings, throwaway_database

pytestmark = pytest.mark.no_shared_db

RETRY_AFTER = 7
# Words of the drivers' messages that must never reach a client.
DRIVER_WORDS = ("psycopg", "pymysql", "connection", "refused", "127.0.0.1", "server")


def unreachable_app(scheme: str) -> Flask:
    """An app whose database server is down: nothing listens on its port."""
    return create_app(
        make_settings(
            database_url=f"{scheme}://nobody@127.0.0.1:{free_port()}/unreachable",
            database_connect_timeout=1,
            database_retry_after=RETRY_AFTER,
        )
    )


def tokens(app: Flask) -> dict[str, str]:
    """A well-signed pair for an account the test never needs to reach."""
    claims = {"role": "reader", "fam": "family-of-a-test"}
    with app.app_context():
        return {
            "access": issue("1", "access", claims, timedelta(minutes=15)),
            "refresh": issue("1", "refresh", {**claims, "jti": "r-1"}, timedelta(days=1)),
        }


def assert_database_unavailable(response: object, request_id: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.content_type == "application/problem+json"  # type: ignore[attr-defined]
    assert response.headers["Retry-After"] == str(RETRY_AFTER)  # type: ignore[attr-defined]
    body = response.json  # type: ignore[attr-defined]
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert body["request_id"] == request_id
    text_of_body = response.get_data(as_text=True).lower()  # type: ignore[attr-defined]
    for word in DRIVER_WORDS:
        assert word not in text_of_body, f"{word!r} leaked into {text_of_body}"


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_every_kind_of_request_meets_a_503_while_the_database_is_down(
    scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = unreachable_app(scheme)
    pair = tokens(app)
    bearer = {"Authorization": f"Bearer {pair['access']}"}
    credentials = {"email": "a@example.com", "password": PASSWORD}
    form = {"grant_type": "password", "username": "a@example.com", "password": PASSWORD}
    requests: dict[str, tuple[str, str, dict[str, Any]]] = {
        "read": ("GET", "/api/v1/books", {"headers": bearer}),
        "write": ("POST", "/api/v1/books", {"headers": bearer, "json": {"title": "t"}}),
        "profile": ("GET", "/api/v1/users/me", {"headers": bearer}),
        "sign-up": ("POST", "/api/v1/auth/signup", {"json": {**credentials, "name": "A"}}),
        "login": ("POST", "/api/v1/auth/login", {"json": credentials}),
        "token": ("POST", "/api/v1/auth/token", {"data": form}),
        "refresh": ("POST", "/api/v1/auth/refresh", {"json": {"refresh_token": pair["refresh"]}}),
        "readiness": ("GET", "/readyz", {}),
    }
    client = app.test_client()
    for name, (method, path, options) in requests.items():
        request_id = f"outage-{name}"
        headers = {**options.pop("headers", {}), "X-Request-ID": request_id}
        with caplog.at_level(logging.INFO):
            caplog.clear()
            response = client.open(path, method=method, headers=headers, **options)
        assert_database_unavailable(response, request_id)
        errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
        assert len(errors) == 1, f"{name}: {[r.getMessage() for r in errors]}"
        assert errors[0].__dict__["http.request.id"] == request_id
        assert errors[0].exc_info is None, "an outage is not a bug: no traceback"
        driver = "psycopg" if scheme == "postgresql" else "pymysql"
        assert errors[0].__dict__["error.type"].startswith(f"{driver}."), name


def test_liveness_does_not_depend_on_the_database() -> None:
    assert unreachable_app("postgresql").test_client().get("/livez").status_code == 200


# --- statements the database refuses stay what they are -----------------------------------


def app_running(sql: str, database_url: str) -> Flask:
    """An app with a test-only route, /run, that executes ``sql`` on its database."""
    app = create_app(make_settings(database_url=database_url))

    @app.post("/run")
    def run() -> str:
        db.session.execute(text(sql))
        return "done"

    return app


def server_database_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


@pytest.fixture
def suite_database(tmp_path: object) -> Iterator[str]:
    """A database of this test: on TEST_DATABASE_URL's server when set, else SQLite."""
    server = server_database_url()
    if not server:
        yield f"sqlite:///{tmp_path}/bugs.db"
        return
    with throwaway_database(server) as url:
        yield url


def test_a_query_for_a_missing_table_is_a_bug_not_an_outage(suite_database: str) -> None:
    app = app_running("SELECT * FROM no_such_table", suite_database)
    response = app.test_client().post("/run")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


# --- a failover: the server we reach can read but no longer write --------------------------


@pytest.fixture
def standby_app() -> Iterator[tuple[Flask, str]]:
    """An app on a PostgreSQL database of its own, and that database's URL."""
    server = server_database_url()
    if not server or make_url(server).get_backend_name() != "postgresql":
        pytest.skip("needs TEST_DATABASE_URL on PostgreSQL (it plays a standby)")
    with throwaway_database(server) as url:
        app = create_app(make_settings(database_url=url, database_retry_after=RETRY_AFTER))
        with app.app_context():
            upgrade()
        yield app, url
        with app.app_context():
            db.engine.dispose()


def set_read_only(database_url: str, read_only: bool) -> None:
    """What a failover does to the server behind our URL: it becomes a read-only standby."""
    url = make_url(make_settings(database_url=database_url).database_url)
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            value = "on" if read_only else "off"
            connection.execute(
                text(f"ALTER DATABASE {url.database} SET default_transaction_read_only = {value}")
            )
            # Sessions already open keep their setting; a real standby refuses them all.
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": url.database},
            )
    finally:
        engine.dispose()


def test_writes_to_a_read_only_standby_are_503_and_reads_go_on(
    standby_app: tuple[Flask, str],
) -> None:
    app, url = standby_app
    client = app.test_client()
    signup = {"email": "reader@example.com", "password": PASSWORD, "name": "Reader"}
    assert client.post("/api/v1/auth/signup", json=signup).status_code == 202
    login = client.post("/api/v1/auth/login", json={"email": signup["email"], "password": PASSWORD})
    bearer = {"Authorization": f"Bearer {login.json['access_token']}"}  # type: ignore[index]
    book = {"title": "Dune", "author": "Frank Herbert"}

    set_read_only(url, True)
    try:
        refused = client.post("/api/v1/books", json=book, headers={**bearer, "X-Request-ID": "w"})
        assert_database_unavailable(refused, "w")
        assert client.get("/api/v1/books", headers=bearer).status_code == 200
    finally:
        set_read_only(url, False)

    assert client.post("/api/v1/books", json=book, headers=bearer).status_code == 201


@pytest.mark.parametrize(
    ("error", "conflict"),
    [  # PyMySQL's errors carry MySQL's error number first, as these do
        (Exception(1213, "Deadlock found when trying to get lock"), True),
        (Exception(1205, "Lock wait timeout exceeded"), True),
        (Exception(2003, "Can't connect"), False),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
    ],
)
def test_lock_conflicts_are_told_apart_from_other_database_errors(
    error: Exception, conflict: bool
) -> None:
    """A deadlock between requests waiting for one Idempotency-Key answers 409, not 500."""
    wrapped = OperationalError("INSERT ...", {}, error)
    assert is_lock_conflict(wrapped) is conflict
