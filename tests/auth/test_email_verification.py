"""A new account confirms its address from a mailed link; a service can require it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.core import project
from tests.auth.mails import FRONTEND, log_in, received, sign_up, token_in
from tests.conftest import PASSWORD, Mailbox, Stack, make_settings

CONFIRM_SUBJECT = f"Confirm your email address for {project.NAME}"


def verify(client: FlaskClient, token: str) -> TestResponse:
    return client.post("/api/v1/auth/verify-email", json={"token": token})


def me(client: FlaskClient, session: dict[str, str]) -> dict[str, object]:
    response = client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def test_the_welcome_mail_carries_the_link_that_verifies_the_address(
    stack: Stack, mailbox: Mailbox
) -> None:
    welcome = sign_up(stack, mailbox, "new@example.com")
    session = log_in(stack.client, "new@example.com")
    assert me(stack.client, session)["email_verified_at"] is None
    assert [m["To"] for m in mailbox.messages] == ["new@example.com"]  # one mail, not two

    token = token_in(welcome, "verify-email")
    assert verify(stack.client, token).status_code == 204

    assert me(stack.client, session)["email_verified_at"] is not None
    assert verify(stack.client, token).status_code == 400  # a link works once


def test_resend_mails_a_new_link_and_the_old_one_stops_working(
    stack: Stack, mailbox: Mailbox
) -> None:
    welcome = sign_up(stack, mailbox, "resend@example.com")
    session = log_in(stack.client, "resend@example.com")
    headers = {"Authorization": f"Bearer {session['access_token']}"}

    resent = stack.client.post("/api/v1/auth/verify-email/resend", headers=headers)
    assert resent.status_code == 202
    assert "detail" in resent.get_json()
    mail = received(stack, mailbox, "resend@example.com", CONFIRM_SUBJECT)
    plain = mail.get_body(("plain",))
    assert plain is not None
    assert project.NAME in plain.get_content()

    assert verify(stack.client, token_in(welcome, "verify-email")).status_code == 400
    assert verify(stack.client, token_in(mail, "verify-email")).status_code == 204
    again = stack.client.post("/api/v1/auth/verify-email/resend", headers=headers)
    assert again.status_code == 409
    assert again.content_type == "application/problem+json"


def test_resend_needs_a_signed_in_account(stack: Stack) -> None:
    refused = stack.client.post("/api/v1/auth/verify-email/resend")
    assert refused.status_code == 401


def test_a_password_reset_proves_the_address_too(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "via-reset@example.com")
    stack.client.post("/api/v1/auth/password-reset", json={"email": "via-reset@example.com"})
    mail = received(stack, mailbox, "via-reset@example.com", f"Reset your {project.NAME} password")
    confirmed = stack.client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": token_in(mail, "reset-password"), "password": "a new passphrase"},
    )
    assert confirmed.status_code == 204
    session = log_in(stack.client, "via-reset@example.com", "a new passphrase")
    assert me(stack.client, session)["email_verified_at"] is not None


def test_wrong_verification_tokens_are_a_400_problem(client: FlaskClient) -> None:
    for token in ("nonsense", "x" * 256):
        refused = verify(client, token)
        assert refused.status_code == 400
        assert refused.content_type == "application/problem+json"
    for body in ({}, {"token": ""}, {"token": 5}, {"token": "x" * 257}):
        assert client.post("/api/v1/auth/verify-email", json=body).status_code == 422, body


# --- REQUIRE_VERIFIED_EMAIL=true ---------------------------------------------------------


@pytest.fixture
def strict_app(database_url: str) -> Flask:
    """Verified email required; tasks in-process and mail to the log, as in development."""
    return create_app(make_settings(database_url=database_url, require_verified_email=True))


def logged_link(caplog: pytest.LogCaptureFixture, email: str, page: str) -> str:
    """The token of the last link to ``page`` in a mail to ``email`` that went to the log."""
    logged = [
        record.getMessage()
        for record in caplog.records
        if "mail not sent" in record.getMessage() and f"To: {email}" in record.getMessage()
    ]
    assert logged, "no mail in the log"
    links = re.findall(re.escape(f"{FRONTEND}/{page}?token=") + r"([A-Za-z0-9_\-]+)", logged[-1])
    assert links, logged[-1]
    return str(links[-1])


def test_unverified_accounts_are_told_what_to_do_after_the_password_check(
    strict_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = strict_app.test_client()
    caplog.set_level("INFO")
    signup = {"email": "strict@example.com", "password": PASSWORD, "name": "Ada"}
    assert client.post("/api/v1/auth/signup", json=signup).status_code == 202

    wrong = client.post(
        "/api/v1/auth/login", json={"email": "strict@example.com", "password": "not it at all"}
    )
    assert wrong.status_code == 401  # nothing about verification without the password

    refused = client.post(
        "/api/v1/auth/login", json={"email": "strict@example.com", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    assert "verif" in refused.get_json()["detail"]
    assert "link" in refused.get_json()["detail"]
    form = {"grant_type": "password", "username": "strict@example.com", "password": PASSWORD}
    token_refused = client.post("/api/v1/auth/token", data=form)
    assert token_refused.status_code == 403
    assert token_refused.content_type == "application/problem+json"

    # The refusal mailed a fresh link (to the log, in development): following it lets them in.
    assert (
        verify(client, logged_link(caplog, "strict@example.com", "verify-email")).status_code == 204
    )
    assert client.post("/api/v1/auth/login", json=signup | {"name": None}).status_code == 422
    login = client.post(
        "/api/v1/auth/login", json={"email": "strict@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    assert client.post("/api/v1/auth/token", data=form).status_code == 200


def test_an_admin_made_by_the_command_is_verified(strict_app: Flask) -> None:
    result = strict_app.test_cli_runner().invoke(
        args=["users", "create-admin", "boss@example.com"], env={"ADMIN_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output
    login = strict_app.test_client().post(
        "/api/v1/auth/login", json={"email": "boss@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
