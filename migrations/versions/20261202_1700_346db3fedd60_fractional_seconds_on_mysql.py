"""fractional seconds on MySQL and MariaDB: timestamps keep microseconds, as elsewhere

Their DATETIME keeps whole seconds unless the column asks for fractions, so a row read back
differed from the object that wrote it, and rows written within one second tied in order.
PostgreSQL and SQLite keep microseconds already: nothing changes there. The wider type holds
every value the old one held, so the previous release runs on it unchanged.

Revision ID: 346db3fedd60
Revises: da9f45636aff
Create Date: 2026-12-02 17:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = "346db3fedd60"
down_revision = "da9f45636aff"
branch_labels = None
depends_on = None

# Every timestamp column at this revision, and whether it takes NULL: MySQL's MODIFY restates
# the whole column, so its nullability must be given.
TIMESTAMPS = {
    "users": {"created_at": False, "updated_at": False, "welcomed_at": True,
              "email_verified_at": True},
    "books": {"created_at": False, "updated_at": False},
    "jobs": {"created_at": False, "updated_at": False, "started_at": True},
    "email_tokens": {"created_at": False, "expires_at": False, "sent_at": True,
                     "voided_at": True},
    "token_families": {"expires_at": False, "revoked_at": True},
    "refresh_tokens": {"spent_at": True},
    "outbox": {"created_at": False, "next_attempt_at": False, "sent_at": True},
    "releases": {"ran_at": False},
}  # fmt: skip


def on_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if not on_mysql():
        return
    for table, columns in TIMESTAMPS.items():
        for column, nullable in columns.items():
            op.alter_column(
                table,
                column,
                type_=mysql.DATETIME(fsp=6),
                existing_type=sa.DateTime(),
                existing_nullable=nullable,
            )


def downgrade() -> None:
    if not on_mysql():
        return
    for table, columns in TIMESTAMPS.items():
        for column, nullable in columns.items():
            op.alter_column(
                table,
                column,
                type_=sa.DateTime(),
                existing_type=mysql.DATETIME(fsp=6),
                existing_nullable=nullable,
            )
