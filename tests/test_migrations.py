"""Migrations go both ways on a fresh database, and the models never drift from them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.core.extensions import db
from tests.conftest import make_settings, throwaway_database

pytestmark = pytest.mark.no_shared_db


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        with throwaway_database(server_url) as url:
            app = create_app(make_settings(database_url=url))
            yield app
            with app.app_context():
                db.engine.dispose()
        return
    url = f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'fresh.db'}"
    yield create_app(make_settings(database_url=url))


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_round_trip(fresh_app: Flask) -> None:
    model_tables = set(db.metadata.tables)
    with fresh_app.app_context():
        upgrade()
        assert table_names() == model_tables
        downgrade(revision="base")
        assert table_names() == set()
        upgrade()
        assert table_names() == model_tables


def test_models_and_migrations_do_not_drift(fresh_app: Flask) -> None:
    with fresh_app.app_context():
        upgrade()
        check()  # exits non-zero when autogenerate would write a new revision
