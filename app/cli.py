"""One-off admin processes, run as `flask <group> <command>` against the app's configuration."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup

from app.auth import service as auth_service
from app.auth import tasks as auth_tasks


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
    click.echo(f"Removed {auth_tasks.purge_expired_tokens()} expired token records.")


def register(app: Flask) -> None:
    for group in (users, auth):
        app.cli.add_command(group)
