"""XII. Admin processes: one-off `flask` commands run against the web process's configuration.

The release step, an admin account and a token purge each run as their own process, with the
same environment as the web process, and what they do is what the web process then serves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.auth.models import RefreshToken
from tests.process.conftest import (
    Databases,
    Processes,
    command,
    environment,
    flask_command,
    jwt_claims,
    session,
)

pytestmark = pytest.mark.no_shared_db

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "an admin password of some length"


def test_release_admin_and_purge_commands_act_on_what_the_web_process_serves(
    processes: Processes, databases: Databases
) -> None:
    database_url = databases.create(migrated=False)  # empty: the release step migrates it
    env = environment(DATABASE_URL=database_url)

    release = processes.run("release", command("release"), env)
    assert release.popen.returncode == 0, release.tail()
    assert release.logged("Running upgrade")
    assert not release.logged("setup plugin")  # Alembic's start-up chatter is not for operators

    web = processes.start_web(env)
    admin = processes.run(
        "create-admin",
        flask_command("users", "create-admin", ADMIN_EMAIL),
        {**env, "ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    assert admin.popen.returncode == 0, admin.tail()
    assert f"Created admin {ADMIN_EMAIL}" in admin.stdout()
    web.wait_ready()

    token = web.tokens(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
    listed = web.request("GET", "/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert listed.status == 200
    assert [(user["email"], user["role"]) for user in listed.json()["items"]] == [
        (ADMIN_EMAIL, "admin")
    ]

    # A signed-out sign-in (its revocation still needed), and a refresh token spent so long
    # ago that it has expired anyway.
    signed_out = web.tokens(ADMIN_EMAIL, ADMIN_PASSWORD)
    family = jwt_claims(signed_out["refresh_token"])["fam"]
    assert (
        web.request(
            "POST", "/api/v1/auth/logout", headers=bearer(signed_out["access_token"])
        ).status
        == 204
    )
    with session(database_url) as rows:
        long_ago = datetime.now(UTC) - timedelta(days=15)
        rows.add(RefreshToken(jti="spent-long-ago", family_id=family, spent_at=long_ago))
        rows.commit()

    purge = processes.run("purge-tokens", flask_command("auth", "purge-tokens"), env)

    assert purge.popen.returncode == 0, purge.tail()
    assert "Removed 1 expired token records." in purge.stdout()
    with session(database_url) as rows:
        remaining = set(
            rows.scalars(select(RefreshToken.jti).where(RefreshToken.family_id == family))
        )
    assert remaining == {jwt_claims(signed_out["refresh_token"])["jti"]}
    assert (
        web.request("GET", "/api/v1/users/me", headers=bearer(signed_out["access_token"])).status
        == 401
    )
    assert web.request("GET", "/api/v1/users", headers=bearer(token)).status == 200


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
