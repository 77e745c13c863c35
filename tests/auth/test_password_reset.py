"""A user who forgot their password asks for a link by mail, and sets a new one with it.

Through HTTP, with the mail sent by a real worker to a real SMTP server.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from app.auth.models import EmailToken, EmailTokenPurpose, User
from app.core import project
from app.core.extensions import db
from tests.auth.mails import assert_alike_in_time, log_in, received, sign_up, token_in
from tests.conftest import PASSWORD, Mailbox, SignUp, Stack

RESET_SUBJECT = f"Reset your {project.NAME} password"
NEW_PASSWORD = "a brand new passphrase"


def ask_for_reset(client: FlaskClient, email: str) -> TestResponse:
    return client.post("/api/v1/auth/password-reset", json={"email": email})


def confirm(client: FlaskClient, token: str, password: str = NEW_PASSWORD) -> TestResponse:
    return client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )


def reset_token(stack: Stack, mailbox: Mailbox, email: str, count: int = 1) -> str:
    assert ask_for_reset(stack.client, email).status_code == 202
    return token_in(received(stack, mailbox, email, RESET_SUBJECT, count), "reset-password")


def stored_tokens(stack: Stack, email: str) -> list[EmailToken]:
    with stack.app.app_context():
        return list(
            db.session.scalars(
                select(EmailToken)
                .join(User)
                .where(User.email == email, EmailToken.purpose == EmailTokenPurpose.PASSWORD_RESET)
            )
        )


def test_a_forgotten_password_is_replaced_from_the_mailed_link(
    stack: Stack, mailbox: Mailbox
) -> None:
    sign_up(stack, mailbox, "forgetful@example.com")
    asked = ask_for_reset(stack.client, "forgetful@example.com")
    assert asked.status_code == 202

    mail = received(stack, mailbox, "forgetful@example.com", RESET_SUBJECT)
    assert "no-reply@example.com" in mail["From"]
    assert mail.get_content_type() == "multipart/alternative"
    plain, markup = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert markup is not None
    assert "Hello Ada" in plain.get_content()
    assert project.NAME in plain.get_content()
    assert project.NAME in markup.get_content()
    assert '<a href="http://127.0.0.1:8000/reset-password?token=' in markup.get_content()
    token = token_in(mail, "reset-password")
    assert len(base64.urlsafe_b64decode(token + "==")) >= 16  # at least 128 random bits

    assert confirm(stack.client, token).status_code == 204
    assert log_in(stack.client, "forgetful@example.com", NEW_PASSWORD)["access_token"]
    old = stack.client.post(
        "/api/v1/auth/login", json={"email": "forgetful@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401


def test_only_a_hash_of_the_token_is_stored(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "hashed@example.com")
    token = reset_token(stack, mailbox, "hashed@example.com")
    (row,) = stored_tokens(stack, "hashed@example.com")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {row.id, row.token_hash}
    assert row.expires_at - row.created_at == timedelta(seconds=1800)


def test_every_session_ends_when_the_password_is_reset(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "stolen@example.com")
    laptop = log_in(stack.client, "stolen@example.com")
    phone = log_in(stack.client, "stolen@example.com")
    token = reset_token(stack, mailbox, "stolen@example.com")

    assert confirm(stack.client, token).status_code == 204

    for session in (laptop, phone):
        me = stack.client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {session['access_token']}"}
        )
        assert me.status_code == 401
        refreshed = stack.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert refreshed.status_code == 401


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    stack: Stack, mailbox: Mailbox
) -> None:
    sign_up(stack, mailbox, "known@example.com")
    known = ask_for_reset(stack.client, "known@example.com")
    unknown = ask_for_reset(stack.client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    varying = {"X-Request-ID", "Date", "Content-Length"}
    assert {k: v for k, v in known.headers if k not in varying} == {
        k: v for k, v in unknown.headers if k not in varying
    }
    received(stack, mailbox, "known@example.com", RESET_SUBJECT)
    # The unknown address's task ran too (tasks run in order on this one worker): a second
    # request for the known address is mailed only after it.
    ask_for_reset(stack.client, "known@example.com")
    received(stack, mailbox, "known@example.com", RESET_SUBJECT, count=2)
    assert not [m for m in mailbox.messages if m["To"] == "nobody@example.com"]


def test_known_and_unknown_addresses_take_about_the_same_time(
    stack: Stack, mailbox: Mailbox
) -> None:
    sign_up(stack, mailbox, "timed@example.com")
    addresses = {"known": "timed@example.com", "unknown": "untimed@example.com"}

    assert_alike_in_time(
        lambda kind, _round: ask_for_reset(stack.client, addresses[kind]).status_code,
        lambda round_: received(stack, mailbox, "timed@example.com", RESET_SUBJECT, round_ + 1),
        kinds=("known", "unknown"),
    )


def test_a_link_works_once(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "once@example.com")
    token = reset_token(stack, mailbox, "once@example.com")
    assert confirm(stack.client, token).status_code == 204
    again = confirm(stack.client, token, "yet another passphrase")
    assert again.status_code == 400
    log_in(stack.client, "once@example.com", NEW_PASSWORD)


def test_a_newer_request_voids_the_older_link(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "twice@example.com")
    older = reset_token(stack, mailbox, "twice@example.com")
    newer = reset_token(stack, mailbox, "twice@example.com", count=2)
    assert older != newer
    assert confirm(stack.client, older).status_code == 400
    assert confirm(stack.client, newer).status_code == 204


def test_a_password_change_voids_the_link(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "changer@example.com")
    session = log_in(stack.client, "changer@example.com")
    token = reset_token(stack, mailbox, "changer@example.com")
    changed = stack.client.patch(
        "/api/v1/users/me",
        json={"password": {"current": PASSWORD, "new": "changed it myself"}},
        headers={"Authorization": f"Bearer {session['access_token']}"},
    )
    assert changed.status_code == 200
    assert confirm(stack.client, token).status_code == 400


def test_an_expired_link_is_refused(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "late@example.com")
    token = reset_token(stack, mailbox, "late@example.com")
    (row,) = stored_tokens(stack, "late@example.com")
    # Half an hour passes: the token's expiry is now in the past.
    with stack.app.app_context():
        db.session.execute(
            update(EmailToken)
            .where(EmailToken.id == row.id)
            .values(expires_at=row.expires_at - timedelta(seconds=1801))
        )
        db.session.commit()
    assert confirm(stack.client, token).status_code == 400
    log_in(stack.client, "late@example.com")  # the old password still works


def test_wrong_expired_and_spent_tokens_are_one_answer(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "alike@example.com")
    spent = reset_token(stack, mailbox, "alike@example.com")
    assert confirm(stack.client, spent).status_code == 204
    voided_by_newer = reset_token(stack, mailbox, "alike@example.com", count=2)
    reset_token(stack, mailbox, "alike@example.com", count=3)

    answers = [
        confirm(stack.client, token)
        for token in (spent, voided_by_newer, "made-up-token", "x" * 256)
    ]
    assert {answer.status_code for answer in answers} == {400}
    assert {answer.content_type for answer in answers} == {"application/problem+json"}
    bodies = [{**answer.get_json(), "request_id": None} for answer in answers]
    assert all(body == bodies[0] for body in bodies)
    assert "expired" in bodies[0]["detail"]


def test_the_new_password_follows_the_sign_up_rules(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "rules@example.com")
    token = reset_token(stack, mailbox, "rules@example.com")
    for bad in ("short", "x" * 129):
        refused = confirm(stack.client, token, bad)
        assert refused.status_code == 422
        assert "password" in refused.get_json()["errors"]["json"]
    assert confirm(stack.client, token).status_code == 204  # a refused attempt spends nothing


def test_a_deactivated_account_gets_no_mail_and_its_links_stop(
    stack: Stack, mailbox: Mailbox
) -> None:
    sign_up(stack, mailbox, "gone@example.com")
    token = reset_token(stack, mailbox, "gone@example.com")
    with stack.app.app_context():
        db.session.execute(
            update(User).where(User.email == "gone@example.com").values(is_active=False)
        )
        db.session.commit()
    assert confirm(stack.client, token).status_code == 400
    assert ask_for_reset(stack.client, "gone@example.com").status_code == 202
    sign_up(stack, mailbox, "after-gone@example.com")
    ask_for_reset(stack.client, "after-gone@example.com")
    received(stack, mailbox, "after-gone@example.com", RESET_SUBJECT)
    # (Only this test's addresses: an earlier test's late mail may land in the shared server.)
    ours = {"gone@example.com", "after-gone@example.com"}
    resets = [m["To"] for m in mailbox.messages if str(m["Subject"]) == RESET_SUBJECT]
    assert [to for to in resets if to in ours] == ["gone@example.com", "after-gone@example.com"]


def test_bad_requests_are_clear_problems(stack: Stack) -> None:
    for body in ({}, {"email": "not an address"}, {"email": 7}, {"email": "a@example.com", "x": 1}):
        refused = stack.client.post("/api/v1/auth/password-reset", json=body)
        assert refused.status_code == 422, body
        assert refused.content_type == "application/problem+json"
    for body in (
        {},
        {"token": "t"},
        {"password": NEW_PASSWORD},
        {"token": "", "password": NEW_PASSWORD},
    ):
        refused = stack.client.post("/api/v1/auth/password-reset/confirm", json=body)
        assert refused.status_code == 422, body


def test_in_development_the_mail_is_in_the_log_with_a_link_to_follow(
    client: FlaskClient, sign_up: SignUp, caplog: pytest.LogCaptureFixture
) -> None:
    """No SMTP_URL outside production: the mail goes to the log, decoded, so it can be used."""
    caplog.set_level("INFO")
    account = sign_up()
    assert ask_for_reset(client, account.email).status_code == 202
    (logged,) = [
        r.getMessage() for r in caplog.records if f"Subject: {RESET_SUBJECT}" in r.getMessage()
    ]
    assert f"To: {account.email}" in logged
    (token,) = re.findall(r"/reset-password\?token=([A-Za-z0-9_\-]+)", logged)
    assert confirm(client, token).status_code == 204
