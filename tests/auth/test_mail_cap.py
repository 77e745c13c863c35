"""Nobody can flood an inbox through us: mails to one address are capped per hour, whichever
addresses the requests come from, and a capped request looks like any other."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from app import create_app
from app.core.rate_limits import MailCap
from tests.conftest import Mailbox, SignUp, free_port, make_settings

CAP = 3
RESET = "/api/v1/auth/password-reset"

MakeApp = Callable[[], Flask]


@pytest.fixture
def make_app(database_url: str, mailbox: Mailbox, rate_limit_store: dict[str, str]) -> MakeApp:
    """Apps (one per worker or replica) behind one trusted proxy, mailing to ``mailbox``.

    Each test mails addresses of its own, so counters left in Redis never meet another test.
    """

    def make() -> Flask:
        return create_app(
            make_settings(
                database_url=database_url,
                ratelimit_enabled=True,
                **rate_limit_store,
                mail_per_address_per_hour=CAP,
                trusted_proxies=1,
                smtp_url=mailbox.url,
                smtp_starttls=False,
            )
        )

    return make


def reset_from(app: Flask, email: str, client_ip: str) -> tuple[int, bytes]:
    response = app.test_client().post(
        RESET,
        json={"email": email},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
        headers={"X-Forwarded-For": client_ip},
    )
    return response.status_code, response.data


def mails_to(mailbox: Mailbox, email: str) -> int:
    return sum(1 for message in mailbox.messages if message["To"] == email)


def test_fifty_resets_from_fifty_addresses_send_no_more_than_the_cap(
    make_app: MakeApp, sign_up: SignUp, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    victim, bystander = sign_up(f"{uuid.uuid4().hex}@example.com"), sign_up()
    app = make_app()
    caplog.set_level(logging.WARNING, "app.core.rate_limits")

    answers = {reset_from(app, victim.email, f"198.51.100.{n}") for n in range(1, 51)}

    assert len(answers) == 1  # every request got the same answer, none a 429
    assert next(iter(answers))[0] == 202
    assert mails_to(mailbox, victim.email) == CAP
    capped = [r for r in caplog.records if "mail cap reached" in r.getMessage()]
    assert len(capped) == 1  # once per address and hour, not once per request
    assert victim.email not in capped[0].getMessage()

    assert reset_from(app, bystander.email, "198.51.100.1")[0] == 202
    assert mails_to(mailbox, bystander.email) == 1


def test_an_unknown_address_is_answered_like_a_capped_one(
    make_app: MakeApp, sign_up: SignUp, mailbox: Mailbox
) -> None:
    victim = sign_up(f"{uuid.uuid4().hex}@example.com")
    app = make_app()
    for n in range(CAP + 1):
        reset_from(app, victim.email, f"203.0.113.{n}")
    capped = reset_from(app, victim.email, "203.0.113.200")
    unknown = reset_from(app, f"{uuid.uuid4().hex}@example.com", "203.0.113.201")
    assert capped == unknown
    assert mails_to(mailbox, victim.email) == CAP


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL")
def test_the_cap_holds_across_replicas(
    make_app: MakeApp, sign_up: SignUp, mailbox: Mailbox
) -> None:
    victim = sign_up(f"{uuid.uuid4().hex}@example.com")
    replicas = [make_app(), make_app()]
    for n in range(2 * CAP):
        reset_from(replicas[n % 2], victim.email, f"192.0.2.{n}")
    assert mails_to(mailbox, victim.email) == CAP


def test_without_its_store_the_cap_still_holds_per_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(
        ratelimit_enabled=True,
        ratelimit_storage_uri=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        mail_per_address_per_hour=CAP,
    )
    cap = MailCap(settings, {"socket_connect_timeout": 1.0})
    caplog.set_level(logging.INFO, "app.core.rate_limits")
    allowed = [cap.allows("someone@example.com", "user 1") for _ in range(CAP + 5)]
    assert allowed == [True] * CAP + [False] * 5
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1
