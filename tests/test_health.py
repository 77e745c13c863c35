"""Orchestrators ask /livez and /readyz; operators ask /version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import free_port, make_settings, redis_namespace, throwaway_broker


def test_livez_answers_while_the_process_serves(client: FlaskClient) -> None:
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.no_shared_db
def test_readyz_names_an_unreachable_database() -> None:
    # Port 1 on loopback refuses connections at once.
    app = create_app(
        make_settings(
            database_url="postgresql://nobody@127.0.0.1:1/none", database_connect_timeout=1
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.json is not None
    assert response.json["checks"] == {"database": "unavailable"}
    assert "database" in response.json["detail"]


@pytest.mark.no_shared_db
def test_version_reports_the_configured_release() -> None:
    app = create_app(make_settings(database_url="sqlite://", app_release="2026.11.25-abc1234"))
    body = app.test_client().get("/version").json
    assert body is not None
    assert body["release"] == "2026.11.25-abc1234"
    assert body["version"] == "0.2.0"
    assert body["python"].count(".") == 2


@pytest.mark.no_shared_db
def test_a_sqlite_file_in_a_missing_folder_is_created(tmp_path: Path) -> None:
    database = tmp_path / "instance" / "app.db"
    app = create_app(make_settings(database_url=f"sqlite:///{database}"))
    assert app.test_client().get("/readyz").status_code == 200
    assert database.exists()


@pytest.mark.no_shared_db
@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_broker_outage_leaves_web_ready_but_degraded(tmp_path: Path, scheme: str) -> None:
    # Writes still commit their outbox rows while the broker is away, so web stays in rotation.
    app = create_app(
        make_settings(
            database_url=f"sqlite:///{tmp_path / 'ready.db'}",
            celery_broker_url=f"{scheme}://127.0.0.1:{free_port()}/",  # nothing listens
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "degraded", "checks": {"broker": "unavailable"}}


@pytest.mark.no_shared_db
def test_a_database_outage_is_unready_whatever_the_broker() -> None:
    app = create_app(
        make_settings(
            database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
            database_connect_timeout=1,
            celery_broker_url=f"redis://127.0.0.1:{free_port()}/0",
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "unavailable", "broker": "unavailable"}


@pytest.mark.no_shared_db
def test_readyz_checks_a_reachable_broker(tmp_path: Path) -> None:
    broker = os.environ.get("TEST_CELERY_BROKER_URL")
    if not broker:
        pytest.skip("set TEST_CELERY_BROKER_URL to check readiness against a real broker")
    with throwaway_broker(broker) as own:
        app = create_app(
            make_settings(database_url=f"sqlite:///{tmp_path / 'ready.db'}", **own.settings)
        )
        response = app.test_client().get("/readyz")
        assert response.status_code == 200
        assert response.json == {"status": "ok"}


@pytest.mark.no_shared_db
def test_an_unreachable_rate_limit_store_is_degraded_not_unready(tmp_path: Path) -> None:
    """Limits fall back to per-process counters, so web stays in rotation and says so."""
    app = create_app(
        make_settings(
            database_url=f"sqlite:///{tmp_path / 'ready.db'}",
            ratelimit_enabled=True,
            ratelimit_storage_uri=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "degraded", "checks": {"rate_limit_store": "unavailable"}}


@pytest.mark.no_shared_db
def test_readyz_checks_a_reachable_rate_limit_store(tmp_path: Path) -> None:
    if not os.environ.get("TEST_REDIS_URL"):
        pytest.skip("set TEST_REDIS_URL to check readiness against a real rate-limit store")
    with redis_namespace(os.environ["TEST_REDIS_URL"]) as store:
        app = create_app(
            make_settings(
                database_url=f"sqlite:///{tmp_path / 'ready.db'}",
                ratelimit_enabled=True,
                ratelimit_storage_uri=store.url,
                redis_key_prefix=store.key_prefix,
            )
        )
        response = app.test_client().get("/readyz")
    assert response.json == {"status": "ok"}


@pytest.mark.no_shared_db
def test_an_unready_process_says_when_to_ask_again() -> None:
    app = create_app(
        make_settings(
            database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
            database_connect_timeout=1,
            database_retry_after=9,
        )
    )
    response = app.test_client().get("/readyz", headers={"X-Request-ID": "probe-1"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "9"
    assert response.get_json()["request_id"] == "probe-1"
