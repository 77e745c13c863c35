"""IX. Disposability of the Celery worker: a warm shutdown finishes the running task, and a
task whose worker dies hard is run again by another one.

The running task is the welcome email; the SMTP server below holds its answer to DATA, so the
task is still running when the worker is stopped or killed.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.auth.models import User
from tests.conftest import Broker, RedisNamespace, free_port, throwaway_broker
from tests.process.conftest import (
    POLL_INTERVAL,
    RABBITMQ_URL,
    Databases,
    Process,
    Processes,
    command,
    environment,
    missing_service,
    redis_queue_state,
    session,
    smtp_url,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

MAX_HOLD = 60.0  # seconds; a held answer is released by the test (or at its end) long before
WELCOME_TASK = "app.auth.tasks.send_welcome_email"
# Each worker starts faster without waiting for neighbours; what is tested does not change.
QUICK_START = ("--without-mingle", "--without-gossip")


@dataclass
class SlowMailbox:
    """An SMTP server on loopback that can hold its answer to DATA until the test releases it."""

    port: int
    hold_next: int = 0  # how many of the next DATA answers to hold
    data_started: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.data_started += 1
        if self.hold_next > 0:
            self.hold_next -= 1
            for _ in range(int(MAX_HOLD / POLL_INTERVAL)):
                if self.released.is_set():
                    break
                await asyncio.sleep(POLL_INTERVAL)
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def recipients(self) -> list[str]:
        return [str(message["To"]) for message in self.messages]


@pytest.fixture
def slow_mailbox() -> Iterator[SlowMailbox]:
    """A server per test, so an answer held in one test cannot land in another."""
    box = SlowMailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        box.released.set()
        controller.stop()


@pytest.fixture
def rabbitmq() -> Iterator[Broker]:
    """A RabbitMQ vhost of this test's own (TEST_CELERY_BROKER_URL's server, or this machine's)."""
    server = os.environ.get("TEST_CELERY_BROKER_URL", "")
    if urlsplit(server).scheme not in ("amqp", "pyamqp"):
        server = RABBITMQ_URL
    parts = urlsplit(server)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2).close()
    except OSError as error:
        missing_service(f"RabbitMQ is not reachable at {parts.hostname}:{parts.port}: {error}")
    with throwaway_broker(server) as vhost:
        yield vhost


def worker_env(database_url: str, broker: Mapping[str, str], box: SlowMailbox) -> dict[str, str]:
    return environment(
        broker,
        DATABASE_URL=database_url,
        SMTP_URL=smtp_url(box.port),
        SMTP_STARTTLS="false",
    )


def add_user(database_url: str, email: str) -> int:
    with session(database_url) as rows:
        user = User(email=email, name="Grace", password_hash="not used by these tests")
        rows.add(user)
        rows.commit()
        return user.id


def welcomed_at(database_url: str, email: str) -> datetime | None:
    with session(database_url) as rows:
        return rows.scalar(select(User.welcomed_at).where(User.email == email))


def test_a_warm_shutdown_finishes_the_running_task_and_exits_0(
    processes: Processes,
    databases: Databases,
    fresh_redis: RedisNamespace,
    slow_mailbox: SlowMailbox,
) -> None:
    database_url = databases.create()
    env = worker_env(database_url, fresh_redis.env, slow_mailbox)
    worker = processes.start("worker", command("worker", "--pool", "solo", *QUICK_START), env)
    web = processes.web(env)
    slow_mailbox.hold_next = 1

    web.sign_up("ada@example.com")  # the welcome email is queued after the commit
    wait_until(
        "the worker is sending the email",
        lambda: slow_mailbox.data_started,
        show=(worker, web.process),
        state=functools.partial(redis_queue_state, fresh_redis),
    )
    worker.send(signal.SIGTERM)
    wait_until(
        "the worker says it is shutting down (warm)",
        lambda: "warm shutdown" in worker.stdout().lower(),
        show=(worker,),
    )
    slow_mailbox.released.set()  # only now does the SMTP server accept the email

    assert worker.wait() == 0
    assert slow_mailbox.recipients() == ["ada@example.com"]
    assert welcomed_at(database_url, "ada@example.com") is not None


def test_a_task_whose_pool_process_is_killed_runs_again_in_a_new_one(
    processes: Processes,
    databases: Databases,
    fresh_redis: RedisNamespace,
    slow_mailbox: SlowMailbox,
) -> None:
    """acks_late + reject_on_worker_lost: the worker hands the task back to the broker."""
    database_url = databases.create()
    user_id = add_user(database_url, "grace@example.com")
    env = worker_env(database_url, fresh_redis.env, slow_mailbox)
    worker = processes.start("worker", command("worker", "--concurrency", "1", *QUICK_START), env)
    slow_mailbox.hold_next = 1  # the first attempt never gets its answer

    fresh_redis.broker.send_task(WELCOME_TASK, args=[user_id])
    wait_until(
        "the worker is sending the email",
        lambda: slow_mailbox.data_started,
        show=(worker,),
        state=functools.partial(redis_queue_state, fresh_redis),
    )
    (pool_process,) = worker.children()
    os.kill(pool_process, signal.SIGKILL)

    wait_until(
        "the email is sent again and recorded",
        lambda: slow_mailbox.data_started == 2 and welcomed_at(database_url, "grace@example.com"),
        show=(worker,),
        state=functools.partial(redis_queue_state, fresh_redis),
    )
    assert worker.logged("signal 9 (SIGKILL)")
    assert worker.stop() == 0
    assert slow_mailbox.recipients() == ["grace@example.com"]


def test_a_task_whose_worker_is_killed_runs_on_another_worker(
    processes: Processes, databases: Databases, rabbitmq: Broker, slow_mailbox: SlowMailbox
) -> None:
    """acks_late: the broker redelivers what a dead worker never acknowledged.

    On RabbitMQ that happens when the worker's connection drops. On Redis it waits for the
    transport's visibility_timeout (1 hour by default), which no setting of the app exposes.
    """
    database_url = databases.create()
    user_id = add_user(database_url, "linus@example.com")
    env = worker_env(database_url, {"CELERY_BROKER_URL": rabbitmq.url}, slow_mailbox)
    workers = [
        processes.start(
            f"worker{number}",
            command(
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"worker{number}-{uuid.uuid4().hex[:8]}@%h",
                *QUICK_START,
            ),
            env,
        )
        for number in (1, 2)
    ]
    slow_mailbox.hold_next = 1  # the first attempt never gets its answer

    task_id = rabbitmq.send_task(WELCOME_TASK, args=[user_id])
    wait_until("a worker is sending the email", lambda: slow_mailbox.data_started, show=(*workers,))
    first, second = sorted(workers, key=lambda worker: not received(worker, task_id))
    first.kill()

    wait_until(
        "the other worker sends the email again and records it",
        lambda: slow_mailbox.data_started == 2 and welcomed_at(database_url, "linus@example.com"),
        show=(*workers,),
    )
    assert received(second, task_id)
    assert second.stop() == 0
    assert slow_mailbox.recipients() == ["linus@example.com"]


def received(worker: Process, task_id: str) -> bool:
    return worker.logged(f"{WELCOME_TASK}[{task_id}] received")
