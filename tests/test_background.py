"""Background jobs run in a real worker: after commit, with retries, once, with the request id."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select

from app import create_app
from app.auth.models import TokenFamily, User
from app.auth.service import hash_password
from app.auth.tasks import RETRY_BACKOFF_BASE, retry_countdown, send_welcome_email
from app.core import project
from app.core.background import enqueue_after_commit
from app.core.extensions import db, utcnow
from tests.conftest import PASSWORD, Mailbox, Stack, free_port, make_settings, wait_for


def sign_up(stack: Stack, email: str, request_id: str | None = None) -> None:
    headers = {"X-Request-ID": request_id} if request_id else {}
    response = stack.client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Ada"},
        headers=headers,
    )
    assert response.status_code == 202


def add_user(app: Flask, email: str) -> int:
    with app.app_context():
        user = User(email=email, name="Grace", password_hash=hash_password(PASSWORD))
        db.session.add(user)
        db.session.commit()
        return user.id


def test_sign_up_sends_a_welcome_email_through_smtp(stack: Stack, mailbox: Mailbox) -> None:
    sign_up(stack, "ada@example.com")
    wait_for(lambda: mailbox.messages)
    message = mailbox.messages[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Welcome to {project.NAME}"
    assert message["From"] == project.MAIL_FROM
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "Hello Ada" in plain.get_content()
    wait_for(lambda: welcomed(stack.app, "ada@example.com"))


def welcomed(app: Flask, email: str) -> bool:
    with app.app_context():
        return db.session.scalar(select(User.welcomed_at).where(User.email == email)) is not None


@contextlib.contextmanager
def welcome_pending(app: Flask, email: str) -> Iterator[None]:
    """Inside: a new user is flushed, not committed, and its welcome email is enqueued."""
    with app.app_context():
        user = User(email=email, name="Pending", password_hash=hash_password(PASSWORD))
        db.session.add(user)
        db.session.flush()
        enqueue_after_commit(send_welcome_email, user.id)
        yield


def test_a_task_waits_for_the_commit_and_sees_its_row(stack: Stack, mailbox: Mailbox) -> None:
    with welcome_pending(stack.app, "late@example.com"):
        time.sleep(0.5)  # a worker given the task now would find no committed row
        assert mailbox.messages == []
        db.session.commit()
    wait_for(lambda: mailbox.messages)
    assert mailbox.messages[0]["To"] == "late@example.com"


def test_a_rolled_back_transaction_sends_nothing(stack: Stack, mailbox: Mailbox) -> None:
    with welcome_pending(stack.app, "ghost@example.com"):
        db.session.rollback()
        db.session.commit()  # a later commit in the same session must not send it either
    sign_up(stack, "real@example.com")  # a task sent after the ghost's would have arrived
    wait_for(lambda: mailbox.messages)
    time.sleep(0.3)
    assert [m["To"] for m in mailbox.messages] == ["real@example.com"]


@pytest.mark.no_shared_db
def test_the_welcome_email_is_sent_once_however_often_the_task_runs(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> None:
    # acks_late means a task can be delivered twice (a worker died mid-task): no harm done.
    app = migrated_app(tmp_path_factory, smtp_url=mailbox.url)
    user_id = add_user(app, "twice@example.com")
    task = app.extensions["celery"].tasks[send_welcome_email.name]
    assert task.apply(args=[user_id]).get() is True
    assert task.apply(args=[user_id]).get() is False
    assert len(mailbox.messages) == 1


def test_the_request_id_travels_with_the_task(
    stack: Stack, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        sign_up(stack, "traced@example.com", request_id="req-signup-42")
        wait_for(lambda: any("welcome email sent" in r.getMessage() for r in caplog.records))
    sent = next(r for r in caplog.records if "welcome email sent" in r.getMessage())
    assert sent.__dict__["http.request.id"] == "req-signup-42"
    assert sent.threadName != "MainThread"  # logged by the worker, not the web request


@pytest.mark.no_shared_db
def test_smtp_failures_are_retried_with_backoff_until_delivered(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    app = migrated_app(tmp_path_factory, smtp_url=mailbox.url)
    user_id = add_user(app, "retry@example.com")
    mailbox.refuse_next = 3  # the server says "451 try later" three times
    with caplog.at_level(logging.WARNING):
        outcome = app.extensions["celery"].tasks[send_welcome_email.name].apply(args=[user_id])
    assert outcome.get() is True
    assert [m["To"] for m in mailbox.messages] == ["retry@example.com"]
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 3


def test_backoff_grows_exponentially_with_full_jitter() -> None:
    for retries in range(6):
        ceiling = RETRY_BACKOFF_BASE * 2**retries
        samples = {retry_countdown(retries) for _ in range(200)}
        assert min(samples) >= 0
        assert max(samples) <= ceiling
        if retries >= 3:
            assert len(samples) > 1, "no jitter"


@pytest.mark.no_shared_db
def test_the_last_failure_is_logged_with_the_request_id(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    closed_port = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    app = migrated_app(tmp_path_factory, smtp_url=closed_port)
    user_id = add_user(app, "down@example.com")
    task = app.extensions["celery"].tasks[send_welcome_email.name]
    with caplog.at_level(logging.WARNING):
        outcome = task.apply(args=[user_id], headers={"request_id": "req-mail-down"})
    assert outcome.failed()
    final = [
        r for r in caplog.records if r.levelno == logging.ERROR and "failed after" in r.getMessage()
    ]
    assert len(final) == 1
    assert final[0].__dict__["http.request.id"] == "req-mail-down"
    with app.app_context():
        assert db.session.scalar(select(User.welcomed_at).where(User.id == user_id)) is None


def migrated_app(tmp_path_factory: pytest.TempPathFactory, **overrides: object) -> Flask:
    url = f"sqlite:///{tmp_path_factory.mktemp('tasks') / 'tasks.db'}"
    app = create_app(make_settings(database_url=url, smtp_starttls=False, **overrides))
    with app.app_context():
        upgrade()
    return app


def test_beat_schedules_the_token_purge_and_the_worker_runs_it(stack: Stack) -> None:
    entry = stack.celery.conf.beat_schedule["purge-expired-tokens"]
    assert entry["schedule"] == 3600.0
    assert entry["task"] in stack.celery.tasks
    user_id = add_user(stack.app, "purged@example.com")
    with stack.app.app_context():
        now = utcnow()
        db.session.add(TokenFamily(id="purge-old", user_id=user_id, expires_at=now))
        db.session.add(
            TokenFamily(id="purge-new", user_id=user_id, expires_at=now + timedelta(hours=1))
        )
        db.session.commit()
    stack.celery.send_task(entry["task"])
    wait_for(lambda: family_ids(stack.app, user_id) == {"purge-new"})


def family_ids(app: Flask, user_id: int) -> set[str]:
    with app.app_context():  # a fresh transaction per look sees the worker's commits
        return set(db.session.scalars(select(TokenFamily.id).where(TokenFamily.user_id == user_id)))


@pytest.mark.no_shared_db
def test_the_purge_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_PURGE_INTERVAL", "120")
    app = create_app(make_settings(database_url="sqlite://"))
    assert app.extensions["celery"].conf.beat_schedule["purge-expired-tokens"]["schedule"] == 120.0
