"""release ledger

Revision ID: 0f4015043d47
Revises: 255af92ab4de
Create Date: 2026-12-02 10:24:12.090352

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0f4015043d47"
down_revision = "255af92ab4de"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.String(length=200), nullable=False),
        sa.Column("contract_revision", sa.String(length=32), nullable=True),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("ran_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_release"), ["release"], unique=False)


def downgrade() -> None:
    op.drop_table("releases")
