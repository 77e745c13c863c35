"""Alembic environment: runs migrations with the app's engine and model metadata."""

import logging
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import MigrationScript
from flask import current_app
from sqlalchemy import TypeDecorator

from app.core.extensions import MYSQL_DATETIME, UTCDateTime

log = logging.getLogger("alembic.env")
config = context.config
db = current_app.extensions["migrate"].db


def skip_empty_autogenerate(
    _context: object, _revision: object, directives: list[MigrationScript]
) -> None:
    # `make revision` with no model change should not write an empty file.
    upgrade_ops = directives[0].upgrade_ops
    if getattr(config.cmd_opts, "autogenerate", False) and upgrade_ops and upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def render_item(type_: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    # Write a column type of our own as its plain SQL type, so revisions never import app code.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen.imports.add("from sqlalchemy.dialects import mysql")
        variant = f"mysql.{MYSQL_DATETIME!r}"
        return f'sa.{obj.impl!r}.with_variant({variant}, "mysql", "mariadb")'
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations_online() -> None:
    sqlite = db.engine.dialect.name == "sqlite"
    options = {
        "target_metadata": db.metadata,
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        "render_as_batch": sqlite,
        # The app's engine gives SQLite real transactions, so a failed migration rolls back.
        "transactional_ddl": sqlite or None,
        "process_revision_directives": skip_empty_autogenerate,
        "render_item": render_item,
        **current_app.extensions["migrate"].configure_args,
    }
    with db.engine.connect() as connection:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run against a database.")
run_migrations_online()
