"""Someone signs up with an address: nobody can tell from the answer whether it had an account.

A new address gets its account and a welcome mail; a taken one gets the same answer, and its
owner a mail saying someone tried. Through HTTP, with mails sent by a real worker to a real
SMTP server.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.auth import service
from app.auth.models import User
from app.core import project
from app.core.extensions import db
from tests.auth.mails import FRONTEND, assert_alike_in_time, log_in, mail_to, received, sign_up
from tests.conftest import PASSWORD, Mailbox, Stack

ATTEMPT_SUBJECT = f"Someone tried to sign up for {project.NAME} with your address"
WELCOME_SUBJECT = f"Welcome to {project.NAME}"
OTHER_PASSWORD = "the password of whoever tried"
VARYING_HEADERS = {"X-Request-ID", "Date", "Content-Length"}


def try_sign_up(client: FlaskClient, email: str, password: str = OTHER_PASSWORD) -> TestResponse:
    return client.post(
        "/api/v1/auth/signup", json={"email": email, "password": password, "name": "Mallory"}
    )


def comparable_headers(response: TestResponse) -> dict[str, str]:
    return {name: value for name, value in response.headers if name not in VARYING_HEADERS}


def accounts_of(stack: Stack, email: str) -> int:
    with stack.app.app_context():
        count = select(func.count()).select_from(User).where(User.email == email)
        return db.session.scalar(count) or 0


def test_a_taken_and_a_new_address_get_the_same_answer(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "owner@example.com")

    taken = try_sign_up(stack.client, "Owner@Example.com")
    new = try_sign_up(stack.client, "newcomer@example.com")

    assert taken.status_code == new.status_code == 202
    assert taken.get_json() == new.get_json()
    assert new.get_json() == {"detail": "Check your inbox: we sent a link to finish signing up."}
    assert comparable_headers(taken) == comparable_headers(new)
    assert "Location" not in new.headers
    assert taken.headers["Cache-Control"] == "no-store"


def test_the_owner_of_a_taken_address_is_told_and_keeps_the_account(
    stack: Stack, mailbox: Mailbox
) -> None:
    sign_up(stack, mailbox, "kept@example.com")

    assert try_sign_up(stack.client, "kept@example.com").status_code == 202

    notice = received(stack, mailbox, "kept@example.com", ATTEMPT_SUBJECT)
    plain = notice.get_body(("plain",))
    markup = notice.get_body(("html",))
    assert plain is not None
    assert markup is not None
    text = plain.get_content()
    assert text.startswith("Hello Ada,")  # the owner's name, not the one who tried
    assert "sign in" in text
    assert "password reset" in text
    assert f"The {project.NAME} team" in text
    assert "password reset" in markup.get_content()
    assert FRONTEND not in text  # nothing to follow: the owner acts only if they want to
    assert accounts_of(stack, "kept@example.com") == 1
    log_in(stack.client, "kept@example.com", PASSWORD)
    refused = stack.client.post(
        "/api/v1/auth/login", json={"email": "kept@example.com", "password": OTHER_PASSWORD}
    )
    assert refused.status_code == 401
    subjects = [m["Subject"] for m in mailbox.messages if m["To"] == "kept@example.com"]
    assert subjects == [WELCOME_SUBJECT, ATTEMPT_SUBJECT]  # no second welcome


def test_a_new_address_gets_its_account_and_a_welcome(stack: Stack, mailbox: Mailbox) -> None:
    assert try_sign_up(stack.client, "fresh@example.com").status_code == 202

    received(stack, mailbox, "fresh@example.com", WELCOME_SUBJECT)
    tokens = log_in(stack.client, "fresh@example.com", OTHER_PASSWORD)
    me = stack.client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.get_json()["name"] == "Mallory"
    # (Only this address: a mail of an earlier test may still arrive on the shared server.)
    assert [m["Subject"] for m in mailbox.messages if m["To"] == "fresh@example.com"] == [
        WELCOME_SUBJECT
    ]


def test_the_loser_of_a_race_for_an_address_gets_the_same_answer(
    stack: Stack, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sign-ups at once both find the address free; the database keeps one account.

    The race is made certain by letting the second one's look-up miss the first's account."""
    sign_up(stack, mailbox, "raced@example.com")
    monkeypatch.setattr(service, "account_exists", lambda email: False)

    late = try_sign_up(stack.client, "raced@example.com")

    assert late.status_code == 202
    assert late.get_json() == {"detail": "Check your inbox: we sent a link to finish signing up."}
    received(stack, mailbox, "raced@example.com", ATTEMPT_SUBJECT)
    assert accounts_of(stack, "raced@example.com") == 1
    log_in(stack.client, "raced@example.com", PASSWORD)


def test_a_deactivated_account_gets_no_notice(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "gone@example.com")
    with stack.app.app_context():
        user = db.session.scalar(select(User).where(User.email == "gone@example.com"))
        assert user is not None
        user.is_active = False
        db.session.commit()

    assert try_sign_up(stack.client, "gone@example.com").status_code == 202
    # Tasks run in order on this one worker: a later sign-up's welcome comes after it.
    assert try_sign_up(stack.client, "later@example.com").status_code == 202
    mail_to(mailbox, "later@example.com", WELCOME_SUBJECT)
    assert [m["Subject"] for m in mailbox.messages if m["To"] == "gone@example.com"] == [
        WELCOME_SUBJECT  # its welcome, from before; no notice of the second sign-up
    ]


def test_taken_and_new_addresses_take_about_the_same_time(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, mailbox, "timed@example.com")

    def address(kind: str, round_: int) -> str:
        return "timed@example.com" if kind == "taken" else f"timed{round_}@example.com"

    def settle(round_: int) -> None:
        received(stack, mailbox, "timed@example.com", ATTEMPT_SUBJECT, count=round_ + 1)
        received(stack, mailbox, address("new", round_), WELCOME_SUBJECT)

    assert_alike_in_time(
        lambda kind, round_: try_sign_up(stack.client, address(kind, round_)).status_code,
        settle,
        kinds=("taken", "new"),
    )
