"""Reading the mails a real SMTP server received, as the account's owner would."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from email.message import EmailMessage
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth import service
from app.auth.models import EmailToken, User
from app.core import project
from app.core.extensions import db
from tests.conftest import PASSWORD, Mailbox, Stack, wait_for

FRONTEND = "http://127.0.0.1:8000"  # FRONTEND_URL's default


def mail_to(mailbox: Mailbox, email: str, subject: str, count: int = 1) -> EmailMessage:
    """Wait for the ``count``-th mail to ``email`` whose subject starts with ``subject``."""

    def matching() -> list[EmailMessage]:
        return [
            m
            for m in mailbox.messages
            if m["To"] == email and str(m["Subject"]).startswith(subject)
        ]

    wait_for(lambda: len(matching()) >= count)
    return matching()[count - 1]


def received(
    stack: Stack, mailbox: Mailbox, email: str, subject: str, count: int = 1
) -> EmailMessage:
    """``mail_to``, once the worker has also recorded the mail as sent."""
    mail = mail_to(mailbox, email, subject, count)
    wait_until_recorded(stack, email)
    return mail


def link_in(message: EmailMessage, page: str) -> str:
    """The link to ``page``, the same in the plain-text and the HTML part."""
    plain = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert plain is not None
    assert markup is not None
    pattern = re.escape(f"{FRONTEND}/{page}?token=") + r"[A-Za-z0-9_\-]+"
    in_text = re.findall(pattern, plain.get_content())
    in_html = re.findall(pattern, markup.get_content())
    assert in_text, plain.get_content()
    assert set(in_text) == set(in_html) == {in_text[0]}
    return str(in_text[0])


def token_in(message: EmailMessage, page: str) -> str:
    return parse_qs(urlsplit(link_in(message, page)).query)["token"][0]


def sign_up(stack: Stack, mailbox: Mailbox, email: str) -> EmailMessage:
    """Sign up, and wait until the welcome mail is sent and recorded."""
    response = stack.client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": "Ada"}
    )
    assert response.status_code == 202, response.json
    return received(stack, mailbox, email, f"Welcome to {project.NAME}")


def wait_until_recorded(stack: Stack, email: str) -> None:
    """Wait until the worker has recorded each mail to ``email`` as sent (it writes that after
    the SMTP server took the mail), so its writes cannot meet the test's next request: SQLite
    has one writer at a time."""

    def recorded() -> bool:
        with stack.app.app_context():  # a new session each time, so it sees the last commit
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None or user.welcomed_at is None:
                return False
            unrecorded = select(EmailToken.id).where(
                EmailToken.user_id == user.id,
                EmailToken.sent_at.is_(None),
                EmailToken.voided_at.is_(None),
            )
            return db.session.scalar(unrecorded.limit(1)) is None

    wait_for(recorded)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return response.get_json()  # type: ignore[no-any-return]


def assert_alike_in_time(
    send: Callable[[str, int], int], settle: Callable[[int], object], kinds: tuple[str, str]
) -> None:
    """Send each kind of request ten times (``send(kind, round)`` returns the status, 202) and
    assert that they differ in time by less than half a password hash.

    Loose on purpose: it catches work done on one path only (one password hash would add its
    whole cost), not the noise of a busy machine. Each round times both kinds and one hash side
    by side, and the test compares the median of the rounds' differences with the median hash:
    a round slowed by other work slows all three. ``settle(round)`` waits for the round's mails.
    Passwords are hashed with production's parameters meanwhile: the test environment's cheap
    ones would make a hash too quick to notice.
    """
    with mock.patch.object(service, "TEST_PASSWORD_HASHER", service.PASSWORD_HASHER):
        _assert_alike_in_time(send, settle, kinds)


def _assert_alike_in_time(
    send: Callable[[str, int], int], settle: Callable[[int], object], kinds: tuple[str, str]
) -> None:
    durations: dict[str, list[float]] = {kind: [] for kind in (*kinds, "hash")}
    for round_ in range(10):
        # Each goes first in half the rounds: the worker may still be busy with the last
        # round's mails, and that must slow both alike.
        for kind in sorted(kinds, reverse=round_ % 2 == 1):
            started = time.perf_counter()
            assert send(kind, round_) == 202
            durations[kind].append(time.perf_counter() - started)
        started = time.perf_counter()
        service.PASSWORD_HASHER.hash("what one password hash costs")
        durations["hash"].append(time.perf_counter() - started)
        settle(round_)

    first, second = (durations[kind] for kind in kinds)
    difference = statistics.median(a - b for a, b in zip(first, second, strict=True))
    assert abs(difference) < statistics.median(durations["hash"]) / 2, durations
