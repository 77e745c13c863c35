"""Expand/contract: a migration that would break the previous release's code must say so.

`make lint` runs scripts/lint_migrations.py; a destructive operation in a migration without
``phase = "contract"`` fails it, naming the file, the line and what breaks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded_only

HEADER = '''"""a change"""

import sqlalchemy as sa
from alembic import op

revision = "0123456789ab"
down_revision = "ba9876543210"
{phase}

def upgrade() -> None:
{body}


def downgrade() -> None:
    op.drop_table("anything")  # a downgrade undoes an expand step: never linted
'''


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    script = Path(__file__).resolve().parents[1] / "scripts" / "lint_migrations.py"
    return subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, str(script), str(folder)], capture_output=True, text=True, timeout=60
    )


def write(folder: Path, body: str, phase: str = "") -> Path:
    path = folder / "20261202_1200_0123456789ab_a_change.py"
    path.write_text(HEADER.format(phase=phase, body=body))
    return path


def test_the_projects_migrations_follow_the_rules(project_root: Path) -> None:
    result = lint(project_root / "migrations" / "versions")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("body", "finding"),
    [
        ('    op.drop_table("revoked_access_tokens")', "drops table revoked_access_tokens"),
        (
            '    with op.batch_alter_table("users") as batch_op:\n'
            '        batch_op.drop_column("welcomed_at")',
            "drops column welcomed_at",
        ),
        ('    op.rename_table("books", "volumes")', "renames table books.volumes"),
        (
            '    op.alter_column("books", "title", new_column_name="name")',
            "renames column books.title",
        ),
        (
            '    op.add_column("books", sa.Column("pages", sa.Integer(), nullable=False))',
            "adds NOT NULL column pages without a server default to books",
        ),
        (
            '    op.alter_column("books", "isbn", nullable=False, existing_type=sa.String(13))',
            "makes column books.isbn NOT NULL without a server default",
        ),
        (
            '    op.alter_column("users", "email", type_=sa.String(length=100),'
            " existing_type=sa.String(length=320))",
            "narrows the type of users.email",
        ),
        (
            '    op.alter_column("books", "description", type_=sa.String(length=500),'
            " existing_type=sa.Text())",
            "narrows the type of books.description",
        ),
        ('    op.execute("DROP TABLE legacy")', "runs SQL that drops or renames"),
    ],
)
def test_a_destructive_operation_needs_the_contract_marker(
    tmp_path: Path, body: str, finding: str
) -> None:
    path = write(tmp_path, body)
    refused = lint(tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"{path}:")
    assert f": {finding}\n" in refused.stderr
    assert 'phase = "contract"' in refused.stderr

    write(tmp_path, body, phase='phase = "contract"')
    accepted = lint(tmp_path)
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize(
    "body",
    [
        '    op.add_column("books", sa.Column("pages", sa.Integer(), nullable=True))',
        '    op.add_column("books", sa.Column("n", sa.Integer(), nullable=False,'
        ' server_default="0"))',
        '    op.alter_column("users", "email", type_=sa.String(length=400),'
        " existing_type=sa.String(length=320))",
        '    op.alter_column("books", "title", type_=sa.Text(), existing_type=sa.String(200))',
        '    op.alter_column("jobs", "id", type_=sa.BigInteger(), existing_type=sa.Integer())',
        '    op.alter_column("books", "created_at", type_=mysql.DATETIME(fsp=6),'
        " existing_type=sa.DateTime())",
        '    op.create_index("ix_books_title", "books", ["title"])',
    ],
)
def test_an_expand_step_needs_no_marker(tmp_path: Path, body: str) -> None:
    write(tmp_path, body)
    result = lint(tmp_path)
    assert result.returncode == 0, result.stderr


def test_an_unknown_phase_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "    pass", phase='phase = "contact"')
    result = lint(tmp_path)
    assert result.returncode == 1
    assert "phase = 'contact'; use 'contract'" in result.stderr
