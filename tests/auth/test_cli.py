"""Admin one-off commands: bootstrap an admin, purge expired token records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.auth.models import RefreshToken, Role, TokenFamily, User
from app.core.extensions import db, utcnow
from tests.conftest import SignUp


def run(app: Flask, *args: str, **kwargs: object) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=list(args), **kwargs)
    return result.exit_code, result.output


def role_of(app: Flask, email: str) -> Role | None:
    with app.app_context():
        return db.session.scalar(select(User.role).where(User.email == email))


def test_create_admin_from_the_environment(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "an admin password")
    code, output = run(app, "users", "create-admin", "Root@Example.com")
    assert code == 0, output
    assert "Created admin root@example.com" in output
    assert role_of(app, "root@example.com") is Role.ADMIN
    login = app.test_client().post(
        "/api/v1/auth/login", json={"email": "root@example.com", "password": "an admin password"}
    )
    assert login.status_code == 200


def test_create_admin_prompts_for_a_confirmed_password(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    code, output = run(
        app, "users", "create-admin", "ops@example.com", input="s3cret pass\ns3cret pass\n"
    )
    assert code == 0, output
    assert "s3cret" not in output  # hidden input
    assert role_of(app, "ops@example.com") is Role.ADMIN


def test_create_admin_promotes_an_existing_user_idempotently(
    app: Flask, sign_up: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    account = sign_up()
    for _ in range(2):
        code, output = run(app, "users", "create-admin", account.email)
        assert code == 0, output
        assert "Promoted admin" in output
    assert role_of(app, account.email) is Role.ADMIN
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_create_admin_refuses_a_short_password(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "short")
    code, output = run(app, "users", "create-admin", "weak@example.com")
    assert code != 0
    assert "8 to 128" in output
    assert role_of(app, "weak@example.com") is None


def test_purge_tokens_removes_only_expired_records(app: Flask, sign_up: SignUp) -> None:
    live = sign_up()
    with app.app_context():
        now = utcnow()
        family = TokenFamily(id="live-family", user_id=live.id, expires_at=now + timedelta(days=1))
        db.session.add(family)
        db.session.add(TokenFamily(id="expired-family", user_id=live.id, expires_at=now))
        # Spent more than a refresh lifetime (14 days) ago: the token itself has expired.
        spent_long_ago = now - timedelta(days=14, minutes=1)
        db.session.add(RefreshToken(jti="spent-long-ago", family=family, spent_at=spent_long_ago))
        # Spent recently: presenting it again must still end the sign-in.
        db.session.add(RefreshToken(jti="spent-recently", family=family, spent_at=now))
        db.session.add(RefreshToken(jti="current", family=family))
        db.session.commit()
    code, output = run(app, "auth", "purge-tokens")
    assert code == 0, output
    assert "Removed 2 expired token records" in output
    with app.app_context():
        assert db.session.get(TokenFamily, "expired-family") is None
        jtis = set(
            db.session.scalars(
                select(RefreshToken.jti).where(RefreshToken.family_id == "live-family")
            )
        )
        assert jtis == {"spent-recently", "current"}
    assert app.test_client().get("/api/v1/users/me", headers=live.headers).status_code == 200
