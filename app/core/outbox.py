"""The transactional outbox: a task to send is a row written in the transaction it is about.

A service writes its rows and an outbox row, and commits once: a rolled-back request leaves no
message, a committed one always leaves one. Right after the commit the process that wrote the
row publishes it (bounded by a short timeout, and paused for a while after a failure, so a dead
broker does not cost every request a timeout). Whatever it could not publish, the relay in
every worker publishes, retrying with back-off until the broker takes it.

Delivery is at-least-once: a message can be published again (a relay died between publishing
and recording it), so its Celery task id is stable (the outbox id, or the job id for jobs) and
every task is harmless when it runs twice. Order is not guaranteed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from blinker import Namespace
from celery import Celery, shared_task
from kombu import Connection
from sqlalchemy import JSON, Index, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app.core.extensions import Base, UTCDateTime, db, utcnow
from app.core.logging import request_id_var
from app.core.settings import current_settings

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "request_id"

PUBLISH_TIMEOUT = 1.0  # seconds one publish may take before the broker counts as down
# A claimed message belongs to its claimer this long; another relay takes it over only after
# (at least a whole batch of publishes fits, so two relays never publish it at once).
CLAIM_SECONDS = 30
BATCH_SIZE = 100
BACKOFF_BASE = 1.0  # seconds after the first failure; doubled per failure
# The longest wait between two tries, and so the longest a message waits once the broker is
# back; short because a try costs one connection attempt.
BACKOFF_MAX = 15.0
ERROR_LENGTH = 500


class OutboxMessage(Base):
    """A task to publish, written in the transaction of the data it is about."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The Celery task id: the row's own id, or the job's (which the reaper looks up).
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH))


@dataclass(frozen=True)
class Message:
    """What publishing needs of an outbox row, detached from any session."""

    id: str
    task_id: str
    task_name: str
    args: list[Any]
    headers: dict[str, str]

    @classmethod
    def of(cls, row: OutboxMessage) -> Message:
        return cls(row.id, row.task_id, row.task_name, list(row.args), dict(row.headers))


# What observability (app/core/tracing.py) hooks into; the outbox imports none of it.
signals = Namespace()
# Sent as a message is written, in the writer's transaction: each receiver returns headers to
# carry to the task (tracing: the W3C trace context).
message_writing = signals.signal("outbox-message-writing")
# Sent as a message is published, by its writer or later by a relay, with its ``headers``:
# each receiver returns a context manager to publish in (tracing: the writer's trace).
message_publishing = signals.signal("outbox-message-publishing")


def message_headers() -> dict[str, str]:
    """The headers a message carries from the code that wrote it to the task that runs it.

    The one place to add context that must cross the broker (receivers of ``message_writing``
    add theirs); the worker reads them back from ``task.request``.
    """
    headers: dict[str, str] = {}
    for _receiver, extra in message_writing.send():
        headers.update(extra)
    request_id = request_id_var.get()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def write_message(
    task_name: str, args: list[Any], *, task_id: str | None, claimed: bool
) -> Message:
    """Add an outbox row to the current session; ``claimed``: the writer publishes it after
    the commit, else the relay does."""
    now = utcnow()
    message_id = str(uuid.uuid4())
    row = OutboxMessage(
        id=message_id,
        task_id=task_id or message_id,
        task_name=task_name,
        args=args,
        headers=message_headers(),
        created_at=now,
        attempts=0,
        # A claimed row waits for the relay only if its writer never publishes it.
        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS) if claimed else now,
    )
    db.session.add(row)
    return Message.of(row)


def fail_fast(timeout: float) -> dict[str, Any]:
    """Broker transport options for a connection that gives up after ``timeout`` seconds."""
    return {
        "max_retries": 0,  # no reconnect loop: the outbox (or the probe) tries again later
        "socket_timeout": timeout,  # Redis
        "socket_connect_timeout": timeout,
    }


def backoff(failures: int) -> float:
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(failures - 1, 0)))


class Publisher:
    """Publishes outbox messages over a broker connection of its own, with a short timeout.

    One per process and app. Without a broker (development, tests of the web process) the
    task runs in-process instead. After a failure, ``paused()`` is true for a back-off time,
    during which writers leave their messages to the relay.
    """

    def __init__(self, celery: Celery[Any]) -> None:
        self.celery = celery
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._pid = os.getpid()
        self._failures = 0
        self._paused_until = 0.0
        if not self.in_process:
            # Load the broker's client library now: importing it in the first request that
            # publishes (half a second for Redis's) would make that request slow.
            celery.connection_for_write().transport  # noqa: B018

    @property
    def in_process(self) -> bool:
        return bool(self.celery.conf.task_always_eager)

    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def publish(self, message: Message) -> None:
        """Hand ``message`` to the broker, or raise within about ``PUBLISH_TIMEOUT``.

        It leaves in the trace of the request that wrote it, even when the relay sends it.
        """
        with contextlib.ExitStack() as contexts:
            for _receiver, context in message_publishing.send(self, headers=message.headers):
                contexts.enter_context(context)
            self._publish(message)

    def _publish(self, message: Message) -> None:
        if self.in_process:
            self.celery.tasks[message.task_name].apply(
                args=tuple(message.args), task_id=message.task_id, headers=message.headers
            )
            return
        task = self.celery.tasks.get(message.task_name)
        with self._lock:
            try:
                self.celery.send_task(
                    message.task_name,
                    args=message.args,
                    task_id=message.task_id,
                    headers=message.headers,
                    connection=self._open(),
                    retry=False,
                    # Otherwise Celery subscribes to the result backend for every message, and
                    # waits (retrying for long) when that backend is away as well.
                    ignore_result=task.ignore_result if task else True,
                )
            except Exception:
                self._close()
                self._failed()
                raise
            self._failures = 0
            self._paused_until = 0.0

    def _failed(self) -> None:
        self._failures += 1
        self._paused_until = time.monotonic() + backoff(self._failures)

    def _open(self) -> Connection:
        if self._pid != os.getpid():  # forked: the parent's socket is not ours to use
            self._connection, self._pid = None, os.getpid()
        if self._connection is None:
            self._connection = self.celery.connection_for_write(
                connect_timeout=PUBLISH_TIMEOUT, transport_options=fail_fast(PUBLISH_TIMEOUT)
            )
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # a broken connection may fail to close too
                log.debug("closing a failed broker connection failed", exc_info=True)
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._close()


@dataclass(frozen=True)
class RelayOutcome:
    sent: int
    error: Exception | None = None


def publish_claimed(publisher: Publisher, messages: list[Message]) -> RelayOutcome:
    """Publish messages this process has claimed; record which went out and which wait."""
    sent: list[str] = []
    error: Exception | None = None
    deadline = time.monotonic() + CLAIM_SECONDS / 2
    for message in messages:
        if time.monotonic() > deadline:
            break
        try:
            publisher.publish(message)
        except Exception as failure:  # any broker failure leaves the row to retry
            error = failure
            break
        sent.append(message.id)
    now = utcnow()
    rows = db.session
    if sent:
        rows.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent))
            .values(sent_at=now, attempts=OutboxMessage.attempts + 1, last_error=None)
        )
    waiting = [message.id for message in messages[len(sent) :]]
    if waiting:
        values: dict[str, Any] = {"next_attempt_at": now}  # past the deadline: due again now
        if error is not None:
            failures = rows.scalar(
                select(OutboxMessage.attempts).where(OutboxMessage.id == waiting[0])
            )
            values = {
                "next_attempt_at": now + timedelta(seconds=backoff((failures or 0) + 1)),
                "last_error": f"{type(error).__name__}: {error}"[:ERROR_LENGTH],
            }
            rows.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == waiting[0])
                .values(attempts=OutboxMessage.attempts + 1)
            )
        rows.execute(update(OutboxMessage).where(OutboxMessage.id.in_(waiting)).values(**values))
    rows.commit()
    return RelayOutcome(sent=len(sent), error=error)


def claim_due(limit: int = BATCH_SIZE) -> list[Message]:
    """Claim up to ``limit`` due messages for this process, and commit the claim.

    PostgreSQL and MariaDB lock the rows with ``FOR UPDATE SKIP LOCKED``, so relays claiming
    at the same time take different rows; SQLite takes its write lock first (BEGIN IMMEDIATE).
    The claim moves ``next_attempt_at`` past the claim time, so nobody else takes the rows
    until this process has published them (or died).
    """
    rows = db.session
    now = utcnow()
    claimed = rows.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in claimed:
        row.next_attempt_at = now + timedelta(seconds=CLAIM_SECONDS)
    messages = [Message.of(row) for row in claimed]
    rows.commit()
    return messages


def relay_due(publisher: Publisher, limit: int = BATCH_SIZE) -> RelayOutcome:
    """One round of the relay: claim due messages, publish them, record the outcome."""
    messages = claim_due(limit)
    if not messages:
        return RelayOutcome(sent=0)
    return publish_claimed(publisher, messages)


def purge_sent(before: datetime) -> int:
    removed = db.session.execute(
        delete(OutboxMessage).where(OutboxMessage.sent_at < before)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return int(removed or 0)


@shared_task
def purge_sent_messages() -> int:
    """Delete messages sent more than JOB_RETENTION_DAYS ago (beat runs this periodically)."""
    days = current_settings().job_retention_days
    removed = purge_sent(utcnow() - timedelta(days=days))
    log.info("purged %s outbox messages sent more than %s days ago", removed, days)
    return removed


class RelayLoop(threading.Thread):
    """The relay of one worker process: publishes due messages until stopped.

    Polls every ``interval`` seconds, at once again after a full batch, and backs off while
    the broker or the database fails, saying so once per outage rather than once per round.
    """

    def __init__(
        self,
        run_round: Callable[[], RelayOutcome],
        interval: float,
        on_stop: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name="outbox-relay", daemon=True)
        self.run_round = run_round
        self.interval = interval
        self.on_stop = on_stop
        self.stopping = threading.Event()
        # A prefork worker forks new pool processes while this thread runs. A child forked
        # mid-round would inherit locks this thread holds (connection pool, statement cache)
        # and hang on them: every fork waits for the round in progress to end.
        self.in_round = threading.Lock()
        os.register_at_fork(
            before=self.in_round.acquire,
            after_in_parent=self.in_round.release,
            after_in_child=self.in_round.release,
        )

    def run(self) -> None:
        failures = 0
        delay = 0.0
        while not self.stopping.wait(delay):
            try:
                with self.in_round:
                    outcome = self.run_round()
            except Exception as error:  # e.g. the database is away; try again
                outcome = RelayOutcome(sent=0, error=error)
            if outcome.error is not None:
                failures += 1
                if failures == 1:
                    log.warning("outbox relay: cannot publish (%s); retrying", outcome.error)
                delay = backoff(failures)
                continue
            if failures:
                log.info("outbox relay: publishing again after %s failed rounds", failures)
                failures = 0
            delay = 0.0 if outcome.sent >= BATCH_SIZE else self.interval

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)
        self.on_stop()
