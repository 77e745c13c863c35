"""One-off admin processes, run as `flask <group> <command>` against the app's configuration."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app import scaffold as scaffolding
from app.auth import service as auth_service
from app.auth import tasks as auth_tasks
from app.core import releases
from app.core.extensions import db
from app.core.settings import PROJECT_ROOT, current_settings


@click.group("users", cls=AppGroup)
def users() -> None:
    """Manage accounts."""


@users.command("create-admin")
@click.argument("email")
def create_admin(email: str) -> None:
    """Create EMAIL as an admin, or promote it if it exists. Password: $ADMIN_PASSWORD or prompt."""
    email = email.strip().lower()
    password = os.environ.get("ADMIN_PASSWORD")
    if password is None and not auth_service.account_exists(email):
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None and not 8 <= len(password) <= 128:
        raise click.UsageError("The password must be 8 to 128 characters long.")
    user, created = auth_service.create_admin(email, password)
    click.echo(f"{'Created' if created else 'Promoted'} admin {user.email} (id {user.id}).")


@click.group("auth", cls=AppGroup)
def auth() -> None:
    """Token housekeeping."""


@auth.command("purge-tokens")
def purge_tokens() -> None:
    """Delete revocation records of tokens that have expired anyway."""
    # The function, not the task: a task runs in the app context of Celery's default app.
    click.echo(f"Removed {auth_tasks.purge_expired_token_records()} expired token records.")


@click.group("release", cls=AppGroup)
def release() -> None:
    """The release step and the release ledger."""


@release.command("run")
def release_run() -> None:
    """The release step: apply every migration, then record this release in the ledger."""
    try:
        row, ahead = releases.run_release_step(current_settings())
    except releases.ReleaseStepError as error:
        raise click.ClickException(f"The release step refuses to run: {error}.") from None
    if ahead:
        click.echo(
            f"The schema is ahead of release {row.release} and holds no contract step it "
            "predates: left as it is."
        )
    click.echo(f"Release {row.release} is at revision {row.revision or 'base'} (by {row.ran_by}).")


@release.command("history")
def release_history() -> None:
    """Every release the release step ran, newest first."""
    rows = releases.history()
    if not rows:
        click.echo("No release has run the release step on this database yet.")
    for row in rows:
        ran_at = row.ran_at.isoformat(timespec="seconds")
        click.echo(f"{row.release}  {row.revision or 'base'}  {ran_at}  {row.ran_by}")


@release.command("check-rollback")
@click.argument("release_id")
def release_check_rollback(release_id: str) -> None:
    """Exit 0 when the current schema can serve RELEASE_ID's code, else explain why not."""
    try:
        check = releases.check_rollback(release_id)
    except releases.UnknownReleaseError:
        known = ", ".join(dict.fromkeys(row.release for row in releases.history())) or "none"
        raise click.ClickException(
            f"No release {release_id!r} in the ledger (known: {known})."
        ) from None
    if check.problem:
        raise click.ClickException(f"Cannot tell whether {release_id} can run: {check.problem}.")
    if check.contract_steps:
        steps = "\n".join(f"  {s.revision} {s.doc}" for s in check.contract_steps)
        raise click.ClickException(
            f"Rolling back to {release_id} is unsafe: these contract migrations ran since, "
            f"and its code may need what they removed:\n{steps}\n"
            "Restore a backup taken before them, or deploy a fix forward."
        )
    applied = len(check.since)
    click.echo(
        f"Rolling back to {release_id} is safe: the {applied} migration(s) applied since are "
        "expand steps, so its code runs on the current schema. Deploy its image; leave the "
        "schema as it is."
    )


@click.group("scaffold", cls=AppGroup)
def scaffold() -> None:
    """Generate code in the project's own patterns."""


@scaffold.command("resource")
@click.argument("plural_name")
def scaffold_resource(plural_name: str) -> None:
    """Generate app/PLURAL_NAME/ and tests/PLURAL_NAME/ in the books pattern, and register it."""
    taken = set(current_app.blueprints) | set(db.metadata.tables)
    try:
        written = scaffolding.scaffold_resource(PROJECT_ROOT, plural_name, taken)
    except scaffolding.ScaffoldError as error:
        raise click.ClickException(str(error)) from None
    for path in written:
        click.echo(f"wrote {path.relative_to(PROJECT_ROOT)}")
    click.echo(
        "\nNext steps:\n"
        f'  make revision m="add {plural_name}"   # the migration for the new table: read it\n'
        "  make migrate\n"
        "  make openapi   # the committed OpenAPI document, with the new paths\n"
        "  make client    # the generated client in clients/python/, with their operations\n"
        f"  .venv/bin/pytest tests/{plural_name}\n"
        'Then add fields beyond name: README, "Add a resource".'
    )


def register(app: Flask) -> None:
    for group in (users, auth, release, scaffold):
        app.cli.add_command(group)
