"""A forgotten password, reset as deployed: gunicorn, a Celery worker, Redis and SMTP."""

from __future__ import annotations

import pytest

from app.core import project
from tests.auth.mails import mail_to, token_in
from tests.conftest import Mailbox, RedisNamespace
from tests.process.conftest import Databases, Processes, command, environment

pytestmark = pytest.mark.no_shared_db


def test_a_user_resets_a_forgotten_password_from_the_mail_the_worker_sent(
    processes: Processes, databases: Databases, fresh_redis: RedisNamespace, mailbox: Mailbox
) -> None:
    env = environment(
        fresh_redis.env,
        DATABASE_URL=databases.create(),
        SMTP_URL=mailbox.url,
        SMTP_STARTTLS="false",
    )
    worker = processes.start("worker", command("worker", "--concurrency", "1"), env)
    web = processes.web(env)
    web.sign_up("ada@example.com")
    welcome = mail_to(mailbox, "ada@example.com", f"Welcome to {project.NAME}")
    verified = web.request(
        "POST",
        "/api/v1/auth/verify-email",
        json_body={"token": token_in(welcome, "verify-email")},
    )
    assert verified.status == 204
    old_session = web.tokens("ada@example.com")

    asked = web.request(
        "POST", "/api/v1/auth/password-reset", json_body={"email": "ada@example.com"}
    )
    assert asked.status == 202, asked.body
    mail = mail_to(mailbox, "ada@example.com", f"Reset your {project.NAME} password")
    confirmed = web.request(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        json_body={"token": token_in(mail, "reset-password"), "password": "a fresh passphrase"},
    )

    assert confirmed.status == 204, confirmed.body
    assert web.log_in("ada@example.com", "a fresh passphrase").status == 200
    headers = {"Authorization": f"Bearer {old_session['access_token']}"}
    assert web.request("GET", "/api/v1/users/me", headers=headers).status == 401
    assert worker.logged("password_reset mail sent")
