"""drop revoked_access_tokens: a revoked family already refuses its access tokens

Every access token names its family and every request checks the family, so logging out
(which revokes the family) refuses the access token at once without a row of its own.
Releases before this one still write and read the table: this is a contract step.

Revision ID: 9c2a3b4d5e6f
Revises: 8b1f2c3d4e5a
Create Date: 2026-12-02 11:01:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "9c2a3b4d5e6f"
down_revision = "8b1f2c3d4e5a"
phase = "contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("revoked_access_tokens")


def downgrade() -> None:
    # Empty again: the tokens logged out meanwhile are refused by their revoked family.
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_access_tokens")),
    )
    with op.batch_alter_table("revoked_access_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revoked_access_tokens_expires_at"), ["expires_at"], unique=False
        )
