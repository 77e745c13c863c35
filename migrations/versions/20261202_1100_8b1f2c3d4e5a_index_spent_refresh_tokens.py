"""index spent refresh tokens, so their purge does not scan the table

Revision ID: 8b1f2c3d4e5a
Revises: 0f4015043d47
Create Date: 2026-12-02 11:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "8b1f2c3d4e5a"
down_revision = "0f4015043d47"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refresh_tokens_spent_at"), ["spent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_spent_at"))
