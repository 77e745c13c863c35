"""Behind PgBouncer in transaction mode, DATABASE_PREPARED_STATEMENTS=false keeps queries working.

PgBouncer hands each transaction to whichever server connection is free. psycopg prepares a
statement on the server after a few runs on one connection; when the next transaction lands on
another server connection, that statement does not exist there. `make test-matrix` runs the
suite through PgBouncer (scripts/with-pgbouncer.sh, which sets TEST_PGBOUNCER=1).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.core.extensions import db
from tests.conftest import make_settings

pytestmark = [
    pytest.mark.no_shared_db,
    pytest.mark.skipif(
        not os.environ.get("TEST_PGBOUNCER"), reason="needs PgBouncer (make test-matrix)"
    ),
]


def engine_with(database_url: str, *, prepared_statements: bool) -> Iterator[Engine]:
    app = create_app(
        make_settings(database_url=database_url, database_prepared_statements=prepared_statements)
    )
    with app.app_context():
        yield db.engine
        db.engine.dispose()


def switch_server_connection(engine: Engine) -> None:
    """Run one query often enough to be prepared, then again while another client holds the
    server connection it ran on, so PgBouncer gives this client another one."""
    query = text("SELECT count(*) FROM pg_class WHERE relpages >= :id")
    with engine.connect() as first, engine.connect() as second:
        for _ in range(8):
            first.execute(query, {"id": 0})
            first.commit()
        second.execute(text("SELECT 1"))  # holds a server connection until its commit
        first.execute(query, {"id": 0})
        first.commit()
        second.commit()


def test_unprepared_statements_survive_changing_server_connections(database_url: str) -> None:
    for engine in engine_with(database_url, prepared_statements=False):
        switch_server_connection(engine)


def test_prepared_statements_break_behind_transaction_pooling(database_url: str) -> None:
    """The counter-proof: the same work with psycopg's default fails through PgBouncer."""
    for engine in engine_with(database_url, prepared_statements=True):
        with pytest.raises(DBAPIError, match="prepared statement"):
            switch_server_connection(engine)
