"""Orchestrators ask /livez and /readyz; operators ask /version."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import make_settings, throwaway_broker


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
    assert body["version"] == "0.1.0"
    assert body["python"].count(".") == 2


@pytest.mark.no_shared_db
def test_a_sqlite_file_in_a_missing_folder_is_created(tmp_path: Path) -> None:
    database = tmp_path / "instance" / "app.db"
    app = create_app(make_settings(database_url=f"sqlite:///{database}"))
    assert app.test_client().get("/readyz").status_code == 200
    assert database.exists()


@pytest.mark.no_shared_db
def test_readyz_names_an_unreachable_broker(tmp_path: Path) -> None:
    app = create_app(
        make_settings(
            database_url=f"sqlite:///{tmp_path / 'ready.db'}",
            celery_broker_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"broker": "unavailable"}


@pytest.mark.no_shared_db
def test_readyz_checks_a_reachable_broker(tmp_path: Path) -> None:
    broker = os.environ.get("TEST_CELERY_BROKER_URL")
    if not broker:
        pytest.skip("set TEST_CELERY_BROKER_URL to check readiness against a real broker")
    with throwaway_broker(broker) as url:
        app = create_app(
            make_settings(database_url=f"sqlite:///{tmp_path / 'ready.db'}", celery_broker_url=url)
        )
        assert app.test_client().get("/readyz").status_code == 200
