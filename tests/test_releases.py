"""Releases have ids: every release step leaves a ledger row, and the ledger tells an operator
whether an earlier release can run on the schema the database has now.

Each test works on a fresh database and a copy of the migrations, to which it adds the
migrations a later release would bring.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect

from app import create_app
from app.core.extensions import db
from app.core.releases import script_directory
from tests.conftest import make_settings, throwaway_database

pytestmark = pytest.mark.no_shared_db

ADD_SUBTITLE = '''"""books get a subtitle"""

import sqlalchemy as sa
from alembic import op

revision = "a1b2c3d4e5f6"
down_revision = "{down}"


def upgrade() -> None:
    with op.batch_alter_table("books") as batch_op:
        batch_op.add_column(sa.Column("subtitle", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("books") as batch_op:
        batch_op.drop_column("subtitle")
'''

DROP_DESCRIPTION = '''"""books lose their description"""

import sqlalchemy as sa
from alembic import op

revision = "f6e5d4c3b2a1"
down_revision = "a1b2c3d4e5f6"
phase = "contract"


def upgrade() -> None:
    with op.batch_alter_table("books") as batch_op:
        batch_op.drop_column("description")


def downgrade() -> None:
    with op.batch_alter_table("books") as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
'''

Deploy = Callable[..., Flask]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        with throwaway_database(server_url) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def migrations(tmp_path: Path, project_root: Path) -> Path:
    """A copy of the project's migrations that tests add later releases' migrations to."""
    copy = tmp_path / "migrations"
    shutil.copytree(project_root / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
def deploy(database: str, migrations: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deploy]:
    """An app as release ``release_id`` would run it, on the test's database and migrations."""
    apps: list[Flask] = []

    def build(release_id: str, code: Path | None = None, **settings: object) -> Flask:
        app = create_app(make_settings(database_url=database, app_release=release_id, **settings))
        app.extensions["migrate"].migrate.directory = str(code or migrations)
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def flask(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def add_migration(migrations: Path, name: str, source: str, app: Flask) -> None:
    with app.app_context():
        head = script_directory().get_current_head()
    (migrations / "versions" / f"{name}.py").write_text(source.format(down=head))


def test_two_release_steps_leave_a_ledger_that_accepts_rolling_back(
    deploy: Deploy, migrations: Path
) -> None:
    first = deploy("1.0.0", release_actor="ci@deploy")
    assert flask(first, "release", "history") == (
        0,
        "No release has run the release step on this database yet.\n",
    )
    code, output = flask(first, "release", "run")
    assert code == 0, output
    assert output.startswith("Release 1.0.0 is at revision ")

    second = deploy("1.1.0", release_actor="ci@deploy")
    add_migration(migrations, "20261202_1200_a1b2c3d4e5f6_subtitle", ADD_SUBTITLE, second)
    code, output = flask(second, "release", "run")
    assert code == 0, output
    assert "Release 1.1.0 is at revision a1b2c3d4e5f6 (by ci@deploy)." in output
    with second.app_context():
        assert "subtitle" in {c["name"] for c in inspect(db.engine).get_columns("books")}

    code, output = flask(second, "release", "history")
    assert code == 0, output
    lines = output.splitlines()
    assert [line.split()[0] for line in lines] == ["1.1.0", "1.0.0"]
    assert lines[0].split()[1] == "a1b2c3d4e5f6"
    assert all(line.split()[-1] == "ci@deploy" for line in lines)

    code, output = flask(second, "release", "check-rollback", "1.0.0")
    assert code == 0, output
    assert "Rolling back to 1.0.0 is safe: the 1 migration(s) applied since are expand" in output
    assert flask(second, "release", "check-rollback", "1.1.0")[0] == 0


def test_a_contract_migration_makes_rolling_back_past_it_unsafe(
    deploy: Deploy, migrations: Path
) -> None:
    first = deploy("1.0.0")
    assert flask(first, "release", "run")[0] == 0
    add_migration(migrations, "20261202_1200_a1b2c3d4e5f6_subtitle", ADD_SUBTITLE, first)
    assert flask(deploy("1.1.0"), "release", "run")[0] == 0
    add_migration(migrations, "20261202_1300_f6e5d4c3b2a1_drop", DROP_DESCRIPTION, first)
    third = deploy("2.0.0")
    assert flask(third, "release", "run")[0] == 0

    for earlier in ("1.1.0", "1.0.0"):
        code, output = flask(third, "release", "check-rollback", earlier)
        assert code == 1
        assert f"Rolling back to {earlier} is unsafe" in output
        assert "f6e5d4c3b2a1 books lose their description" in output
        assert "a1b2c3d4e5f6" not in output  # the expand step is not to blame
    assert flask(third, "release", "check-rollback", "2.0.0")[0] == 0


def test_rolling_back_runs_the_older_release_step_and_leaves_the_schema_ahead(
    deploy: Deploy, migrations: Path, tmp_path: Path
) -> None:
    assert flask(deploy("1.0.0"), "release", "run")[0] == 0
    old_code = shutil.copytree(migrations, tmp_path / "release-1.0.0")
    newer = deploy("1.1.0")
    add_migration(migrations, "20261202_1200_a1b2c3d4e5f6_subtitle", ADD_SUBTITLE, newer)
    assert flask(newer, "release", "run")[0] == 0

    code, output = flask(deploy("1.0.0", code=old_code), "release", "run")

    assert code == 0, output
    assert "The schema is ahead of release 1.0.0 and holds no contract step" in output
    with newer.app_context():
        assert "subtitle" in {c["name"] for c in inspect(db.engine).get_columns("books")}
    history = flask(newer, "release", "history")[1].splitlines()
    assert [line.split()[:2] for line in history[:2]] == [
        ["1.0.0", "a1b2c3d4e5f6"],
        ["1.1.0", "a1b2c3d4e5f6"],
    ]


def test_the_older_release_step_refuses_a_schema_past_a_contract_step(
    deploy: Deploy, migrations: Path, tmp_path: Path
) -> None:
    first = deploy("1.1.0")
    add_migration(migrations, "20261202_1200_a1b2c3d4e5f6_subtitle", ADD_SUBTITLE, first)
    assert flask(first, "release", "run")[0] == 0
    old_code = shutil.copytree(migrations, tmp_path / "release-1.1.0")
    add_migration(migrations, "20261202_1300_f6e5d4c3b2a1_drop", DROP_DESCRIPTION, first)
    assert flask(deploy("2.0.0"), "release", "run")[0] == 0

    code, output = flask(deploy("1.1.0", code=old_code), "release", "run")

    assert code == 1
    assert "has contract migration f6e5d4c3b2a1, which this release predates" in output
    assert flask(first, "release", "history")[1].split()[0] == "2.0.0"  # nothing recorded


def test_an_unknown_release_is_a_message_not_a_traceback(deploy: Deploy) -> None:
    app = deploy("1.0.0")
    assert flask(app, "release", "run")[0] == 0
    code, output = flask(app, "release", "check-rollback", "0.9.9")
    assert code == 1
    assert output == "Error: No release '0.9.9' in the ledger (known: 1.0.0).\n"


def test_a_schema_older_than_the_release_is_explained(deploy: Deploy, migrations: Path) -> None:
    app = deploy("1.1.0")
    add_migration(migrations, "20261202_1200_a1b2c3d4e5f6_subtitle", ADD_SUBTITLE, app)
    assert flask(app, "release", "run")[0] == 0
    assert flask(app, "db", "downgrade", "--", "-1")[0] == 0
    code, output = flask(app, "release", "check-rollback", "1.1.0")
    assert code == 1
    assert "Cannot tell whether 1.1.0 can run: the database is at " in output
    assert "Traceback" not in output


def test_a_database_without_a_ledger_has_no_releases(deploy: Deploy) -> None:
    app = deploy("1.0.0")
    assert flask(app, "release", "history")[1].startswith("No release has run")
    code, output = flask(app, "release", "check-rollback", "1.0.0")
    assert (code, output) == (1, "Error: No release '1.0.0' in the ledger (known: none).\n")


def test_the_ledger_names_who_ran_the_step_by_default(deploy: Deploy) -> None:
    app = deploy("1.0.0")
    assert flask(app, "release", "run")[0] == 0
    _, output = flask(app, "release", "history")
    assert output.split()[-1].endswith(f"@{socket.gethostname()}")
