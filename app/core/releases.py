"""The release ledger: which release ran the release step, on which schema, when, and who ran it.

Migrations are expand/contract. An expand step (a new table, a nullable column) leaves the
previous release's code working, so rolling back is changing the image. A contract step (a
drop, a rename, a new NOT NULL column without a default, a narrower type) breaks older code
and says so with ``phase = "contract"`` at module level; ``scripts/lint_migrations.py`` refuses
destructive operations in a migration without it.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import String, inspect, select
from sqlalchemy.orm import Mapped, mapped_column

from app.core.extensions import READ_ONLY_ON_SQLITE, Base, UTCDateTime, db, utcnow
from app.core.settings import Settings

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

# Alembic is imported inside the functions that need it: the web and worker processes load
# this module (the ledger's table is part of the models) but never migrate.

CONTRACT = "contract"


class Release(Base):
    """One run of the release step."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(primary_key=True)
    release: Mapped[str] = mapped_column(String(200), index=True)
    # The Alembic head(s) the database was at when the step finished, comma-separated.
    revision: Mapped[str] = mapped_column(String(200))
    # The newest contract migration in that schema: an older release may run on it only when
    # it knows this migration (everything after it is an expand step).
    contract_revision: Mapped[str | None] = mapped_column(String(32))
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ran_by: Mapped[str] = mapped_column(String(200))


class UnknownReleaseError(LookupError):
    """The ledger has no row for this release id."""


class ReleaseStepError(RuntimeError):
    """The release step cannot run this release on this database; the message says why."""


@dataclass(frozen=True)
class RollbackCheck:
    """Whether the current schema can serve ``release``, and the migrations that decide it."""

    release: Release
    current_revision: str
    since: list[Script]
    problem: str | None = None

    @property
    def contract_steps(self) -> list[Script]:
        return [script for script in self.since if migration_phase(script) == CONTRACT]

    @property
    def safe(self) -> bool:
        return self.problem is None and not self.contract_steps


def run_release_step(settings: Settings) -> tuple[Release, bool]:
    """The release step: apply every migration, then record this release in the ledger.

    Returns the ledger row, and whether the schema was left ahead: an older release (a
    rollback) finds the database at revisions it does not know, and leaves them when the
    ledger shows no contract step after its own migrations.
    """
    from flask_migrate import upgrade

    scripts = script_directory()
    ahead = not all(known(scripts, head) for head in heads(current_revision()))
    if ahead:
        contract = refuse_unless_compatible(scripts)
    else:
        upgrade()
        contract = newest_contract_step(scripts, current_revision())
    row = Release(
        release=settings.release,
        revision=current_revision(),
        contract_revision=contract,
        ran_by=(settings.release_actor or default_actor())[:200],
    )
    db.session.add(row)
    db.session.commit()
    return row, ahead


def refuse_unless_compatible(scripts: ScriptDirectory) -> str | None:
    """For a schema ahead of this code: the newest contract step it has, which this code must
    know; raise ReleaseStepError when the ledger cannot vouch for the schema."""
    rows = history()
    if not rows:
        raise ReleaseStepError(
            f"the database is at {current_revision()}, a revision this release does not know, "
            "and has no release ledger to tell whether its schema suits this release"
        )
    contract = rows[0].contract_revision
    if contract and not known(scripts, contract):
        raise ReleaseStepError(
            f"the database has contract migration {contract}, which this release predates; "
            "its code may need what that migration removed. Deploy a fix forward instead"
        )
    return contract


def newest_contract_step(scripts: ScriptDirectory, revision: str) -> str | None:
    for script in scripts.iterate_revisions(heads(revision) or "base", "base"):
        if migration_phase(script) == CONTRACT:
            return script.revision
    return None


def known(scripts: ScriptDirectory, revision: str) -> bool:
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        return scripts.get_revision(revision) is not None
    except (CommandError, RevisionError):
        return False


def history() -> list[Release]:
    """Every run of the release step, newest first."""
    if not inspect(db.session.connection()).has_table(Release.__tablename__):
        return []  # the release step never ran here
    return list(db.session.scalars(select(Release).order_by(Release.id.desc())))


def check_rollback(release_id: str) -> RollbackCheck:
    """Can the schema the database has now serve ``release_id``'s code?

    It can when every migration applied since that release's step is an expand step.
    """
    release = next((row for row in history() if row.release == release_id), None)
    if release is None:
        raise UnknownReleaseError(release_id)
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    current = current_revision()
    scripts = script_directory()
    try:
        since = list(
            scripts.iterate_revisions(heads(current) or "base", heads(release.revision) or "base")
        )
    except (CommandError, RevisionError) as error:
        problem = (
            f"the database is at {current or 'no revision'}, which does not descend from "
            f"{release.revision or 'an empty schema'} ({error})"
        )
        return RollbackCheck(release, current, [], problem)
    return RollbackCheck(release, current, since)


def migration_phase(script: Script) -> str:
    """A migration's declared phase: ``contract``, or ``expand`` when it declares none."""
    return str(getattr(script.module, "phase", "expand"))


def current_revision() -> str:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect().execution_options(**READ_ONLY_ON_SQLITE) as connection:
        return ",".join(sorted(MigrationContext.configure(connection).get_current_heads()))


def heads(revision: str) -> tuple[str, ...]:
    return tuple(part for part in revision.split(",") if part)


def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    # The configuration `flask db upgrade` uses, so both read the same migrations.
    return ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())


def default_actor() -> str:
    """user@host of this process; the user is its uid when it has no name (random uids)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"
