"""Tasks leave through the outbox: written with the data, published after the commit, never lost
while the broker is away, and published once even when relays race."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import func, select

from app import create_app
from app.auth import service as auth_service
from app.auth.models import User
from app.core.extensions import db
from app.core.outbox import OutboxMessage, Publisher, relay_due, write_message
from app.jobs.models import Job, JobState
from tests.conftest import (
    PASSWORD,
    Broker,
    Mailbox,
    free_port,
    make_settings,
    rabbitmqctl,
    redis_namespace,
    running_worker,
    throwaway_broker,
    throwaway_database,
    wait_for,
)

WELCOME_TASK = "app.auth.tasks.send_welcome_email"
PURGE_TASK = "app.auth.tasks.purge_expired_tokens"  # a task that needs no arguments


def outbox(app: Flask) -> list[OutboxMessage]:
    with app.app_context():  # a fresh transaction per look sees other processes' commits
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))
        return list(rows)


def sign_up(client: FlaskClient, email: str, **headers: str) -> int:
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "name": "Ada"},
        headers=headers,
    )
    assert response.status_code == 202, response.json
    assert client.application is not None
    with client.application.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id


# --- in the request's transaction ---------------------------------------------------------


def test_a_committed_request_leaves_one_sent_message_with_its_request_id(
    app: Flask, client: FlaskClient
) -> None:
    user_id = sign_up(client, "outbox@example.com", **{"X-Request-ID": "req-outbox-1"})
    (message,) = [row for row in outbox(app) if row.args == [user_id]]
    assert message.task_name == WELCOME_TASK
    assert message.headers == {"request_id": "req-outbox-1"}
    assert message.task_id == message.id
    assert message.sent_at is not None  # no broker: it ran in-process right after the commit
    assert message.attempts == 1


def test_a_rolled_back_insert_leaves_only_what_came_after(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sign-up that loses the race for an address rolls its account back: no welcome for
    it is left behind, only the notice to the owner that replaced it."""
    sign_up(client, "taken@example.com")
    before = {row.id for row in outbox(app)}
    monkeypatch.setattr(auth_service, "account_exists", lambda email: False)
    again = client.post(
        "/api/v1/auth/signup",
        json={"email": "taken@example.com", "password": PASSWORD, "name": "Eve"},
    )
    assert again.status_code == 202
    added = [row for row in outbox(app) if row.id not in before]
    assert [(row.task_name, row.args) for row in added] == [
        ("app.auth.tasks.send_signup_attempt_notice", ["taken@example.com"])
    ]


def test_a_rolled_back_transaction_leaves_no_message(app: Flask) -> None:
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        user = User(email="ghost@example.com", name="Ghost", password_hash="unused")
        db.session.add(user)
        db.session.flush()
        write_message(WELCOME_TASK, [user.id], task_id=None, claimed=True)
        db.session.rollback()
        db.session.commit()  # a later commit in the same session must not bring it back
        after = db.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert after == before


def test_an_export_job_is_the_task_id_of_its_message(
    app: Flask, client: FlaskClient, sign_up: Any
) -> None:
    account = sign_up()
    started = client.post("/api/v1/books/exports", json={"format": "json"}, headers=account.headers)
    job_id = started.get_json()["id"]
    (message,) = [row for row in outbox(app) if row.task_id == job_id]
    assert message.args == [job_id]
    assert message.sent_at is not None


# --- the broker is down when the request commits ------------------------------------------


@dataclass
class StoppedBroker:
    """A broker URL that refuses connections until ``start()``."""

    url: str
    started: bool = False

    def start(self) -> None:
        raise NotImplementedError


@contextlib.contextmanager
def stopped_broker() -> Iterator[StoppedBroker]:
    """A RabbitMQ vhost created only on ``start()`` when TEST_CELERY_BROKER_URL is amqp://,
    else a private redis-server on a free port, started only on ``start()``."""
    server = os.environ.get("TEST_CELERY_BROKER_URL", "")
    parts = urlsplit(server)
    if parts.scheme in ("amqp", "pyamqp"):
        vhost = f"pytest_{uuid.uuid4().hex[:12]}"

        class Vhost(StoppedBroker):
            def start(self) -> None:
                rabbitmqctl("add_vhost", vhost)
                rabbitmqctl("set_permissions", "-p", vhost, parts.username or "guest", *[".*"] * 3)
                self.started = True

        broker: StoppedBroker = Vhost(urlunsplit(parts._replace(path=f"/{vhost}")))
        try:
            yield broker
        finally:
            if broker.started:
                rabbitmqctl("delete_vhost", vhost)
        return
    program = shutil.which("redis-server")
    if program is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI=true, so this test may not skip)")
        pytest.skip("redis-server is not installed")
    redis_server: str = program
    port = free_port()
    servers: list[subprocess.Popen[bytes]] = []

    class RedisServer(StoppedBroker):
        def start(self) -> None:
            argv = [redis_server, "--port", str(port), "--save", "", "--appendonly", "no"]
            servers.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))  # noqa: S603
            client = redis.Redis(port=port)
            wait_for(lambda: _answers(client))
            client.close()
            self.started = True

    try:
        yield RedisServer(f"redis://127.0.0.1:{port}/0")
    finally:
        for server_process in servers:
            server_process.terminate()
            server_process.wait(10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def own_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        with throwaway_database(server_url) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('outbox') / 'outbox.db'}"


def migrated(database_url: str, **overrides: Any) -> Flask:
    app = create_app(make_settings(database_url=database_url, **overrides))
    with app.app_context():
        upgrade()
    return app


@pytest.mark.no_shared_db
def test_requests_succeed_while_the_broker_is_down_and_their_tasks_run_once_it_is_back(
    tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox
) -> None:
    with own_database(tmp_path_factory) as database, stopped_broker() as broker:
        app = migrated(
            database, celery_broker_url=broker.url, smtp_url=mailbox.url, smtp_starttls=False
        )
        client = app.test_client()
        user_id = sign_up(client, "outage@example.com")  # 202, not 500, with the broker down
        tokens = client.post(
            "/api/v1/auth/login", json={"email": "outage@example.com", "password": PASSWORD}
        ).get_json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        export = client.post("/api/v1/books/exports", json={"format": "json"}, headers=headers)
        assert export.status_code == 202
        location = export.headers["Location"]
        assert client.get(location, headers=headers).get_json()["state"] == "PENDING"

        # (By name: the two rows may be written within one tick of the clock.)
        waiting = {row.task_name: row for row in outbox(app)}
        assert sorted(waiting) == [WELCOME_TASK, "app.books.tasks.export_books"]
        assert all(row.sent_at is None for row in waiting.values())
        assert waiting[WELCOME_TASK].last_error  # the writer tried once, then left it to the relay

        broker.start()
        with running_worker(app.extensions["celery"]):
            wait_for(lambda: client.get(location, headers=headers).get_json()["state"] == "SUCCESS")
            wait_for(lambda: mailbox.messages)
            wait_for(lambda: all(row.sent_at is not None for row in outbox(app)))
        assert [message["To"] for message in mailbox.messages] == ["outage@example.com"]
        with app.app_context():
            assert db.session.get(User, user_id).welcomed_at is not None  # type: ignore[union-attr]
            db.engine.dispose()


# --- relays racing ------------------------------------------------------------------------


@contextlib.contextmanager
def own_broker() -> Iterator[Broker]:
    server = os.environ.get("TEST_CELERY_BROKER_URL")
    if not server:
        yield Broker("memory://")
        return
    with throwaway_broker(server) as broker:
        yield broker


def published_task_ids(broker: Broker) -> list[str]:
    """Every task id waiting in the broker's default queue, taking the messages off it."""
    ids = []
    with broker.connection() as connection:
        waiting = connection.SimpleQueue("celery")
        try:
            while True:
                message = waiting.get(timeout=1)
                ids.append(message.headers["id"])
                message.ack()
        except queue.Empty:
            pass
        finally:
            waiting.close()
    return ids


@pytest.mark.no_shared_db
def test_two_relays_racing_publish_each_message_exactly_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with own_database(tmp_path_factory) as database, own_broker() as broker:
        # Two apps, two engines: two relays as two workers run them, on one database.
        relays = [migrated(database, **broker.settings) for _ in range(2)]
        published_task_ids(broker)  # declares the queue, so no message is dropped
        with relays[0].app_context():
            for _ in range(300):
                write_message(PURGE_TASK, [], task_id=None, claimed=False)
            db.session.commit()
        start = threading.Barrier(len(relays))
        failures: list[BaseException] = []

        def relay(app: Flask) -> None:
            publisher = Publisher(app.extensions["celery"])
            start.wait()
            try:
                with app.app_context():
                    while relay_due(publisher, limit=20).sent:
                        db.session.remove()  # each round in a new transaction, as the loop does
            except BaseException as error:  # reported by the test below
                failures.append(error)
            finally:
                publisher.close()

        threads = [threading.Thread(target=relay, args=(app,)) for app in relays]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        rows = outbox(relays[0])
        ids = published_task_ids(broker)
        assert len(ids) == len(set(ids)) == 300
        assert set(ids) == {row.task_id for row in rows}
        assert all(row.sent_at is not None and row.attempts == 1 for row in rows)
        for app in relays:
            with app.app_context():
                db.engine.dispose()


@pytest.mark.no_shared_db
def test_services_sharing_a_redis_database_keep_their_messages_apart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """REDIS_KEY_PREFIX: two deployments on one Redis database never take each other's tasks."""
    server = os.environ.get("TEST_CELERY_BROKER_URL", "")
    if urlsplit(server).scheme not in ("redis", "rediss"):
        pytest.skip("set TEST_CELERY_BROKER_URL to a redis:// URL")
    with (
        own_database(tmp_path_factory) as database,
        redis_namespace(server) as ours,
        redis_namespace(server) as theirs,
    ):
        assert ours.url == theirs.url  # one database, two prefixes
        app = migrated(database, **ours.broker.settings)
        for broker in (ours.broker, theirs.broker):
            published_task_ids(broker)  # declares the queue, so no message is dropped
        with app.app_context():
            message = write_message(PURGE_TASK, [], task_id=None, claimed=False)
            db.session.commit()
            publisher = Publisher(app.extensions["celery"])
            try:
                assert relay_due(publisher).sent == 1
            finally:
                publisher.close()
            db.engine.dispose()
        assert published_task_ids(theirs.broker) == []
        assert published_task_ids(ours.broker) == [message.task_id]


# --- jobs ---------------------------------------------------------------------------------


def test_a_job_is_never_started_twice(app: Flask, client: FlaskClient, sign_up: Any) -> None:
    account = sign_up()
    started = client.post("/api/v1/books/exports", json={"format": "json"}, headers=account.headers)
    job_id = started.get_json()["id"]
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert job is not None
        assert (job.state, job.attempts) == (JobState.SUCCESS, 1)
        app.extensions["celery"].tasks["app.books.tasks.export_books"].apply(args=[job_id])
        db.session.refresh(job)
        assert (job.state, job.attempts) == (JobState.SUCCESS, 1)  # the redelivery did nothing
