"""Celery wired to Flask: tasks run in the app context, leave through the outbox, keep the
request id.

Task modules use ``@shared_task`` and import no app; ``create_app()`` builds one Celery app per
Flask app, and ``app/worker.py`` exposes it to the ``celery`` command. Every task a request
sends is an outbox row written in its transaction (``app.core.outbox``); each worker runs the
relay that publishes what the writer could not.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, Task, bootsteps
from celery.concurrency import get_implementation
from celery.signals import (
    before_task_publish,
    setup_logging,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)
from flask import Flask, current_app
from kombu import Connection
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.core.extensions import db
from app.core.logging import request_id_var
from app.core.outbox import (
    REQUEST_ID_HEADER,
    Message,
    Publisher,
    RelayLoop,
    fail_fast,
    publish_claimed,
    relay_due,
    write_message,
)
from app.core.settings import Settings, check_worker

log = logging.getLogger(__name__)

_PENDING = "app.outbox_after_commit"
BROKER_CHECK_TIMEOUT = 1  # seconds
RELAY_INTERVAL = 0.5  # seconds between two relay rounds of a worker when nothing is due
RETENTION_INTERVAL = 3600  # seconds between purges of old jobs and sent messages


def celery_init_app(app: Flask, settings: Settings) -> Celery[Any]:
    class FlaskTask(Task):  # type: ignore[type-arg]
        """Runs inside the app context, tagged with the id of the request that sent it."""

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            token = request_id_var.set(task_request_id(self))
            try:
                with app.app_context():
                    return self.run(*args, **kwargs)
            finally:
                request_id_var.reset(token)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.celery_broker_url or "memory://",
        result_backend=settings.celery_result_backend,
        # Job state and results live in the database: nothing is copied to a result backend
        # unless a task asks for it.
        task_ignore_result=True,
        # Without a broker (development, tests of the web process) tasks run in-process.
        task_always_eager=settings.celery_broker_url is None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A task is acknowledged when it finishes, so a worker that dies hard loses nothing:
        # the broker hands the task to another worker. Tasks are idempotent for this reason.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # None lets Celery start one child per CPU.
        worker_concurrency=settings.celery_worker_concurrency,
        task_time_limit=settings.celery_task_time_limit,
        task_soft_time_limit=settings.celery_task_time_limit - 10,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule=beat_schedule(settings),
        # Ignored by brokers and backends other than Redis.
        broker_transport_options={"global_keyprefix": settings.redis_key_prefix},
        result_backend_transport_options={"global_keyprefix": settings.redis_key_prefix},
        include=[
            "app.core.outbox",
            "app.core.idempotency",
            "app.auth.tasks",
            "app.books.tasks",
            "app.jobs.tasks",
        ],
    )
    celery.set_default()
    publisher = Publisher(celery)
    app.extensions["celery"] = celery
    app.extensions["publisher"] = publisher
    _connect_once()

    def dispose_inherited_engine(**_: Any) -> None:
        # A forked worker child must not reuse the parent's pooled connections.
        with app.app_context():
            db.engine.dispose(close=False)

    worker_process_init.connect(
        dispose_inherited_engine, weak=False, dispatch_uid=f"app.dispose_engine.{id(celery)}"
    )

    def refuse_unshared_mail_cap(sender: Any = None, **_: Any) -> None:
        # Before the pool starts or the broker is reached. Only the prefork pool runs its
        # tasks in child processes; a concurrency of "auto" is about one per CPU.
        if get_implementation(sender.pool_cls) is get_implementation("prefork"):
            concurrency = sender.concurrency
            check_worker(
                settings, concurrency if isinstance(concurrency, int) else os.cpu_count() or 1
            )

    worker_init.connect(
        refuse_unshared_mail_cap, weak=False, dispatch_uid=f"app.check_worker.{id(celery)}"
    )

    def relay_round() -> Any:
        with app.app_context():
            return relay_due(publisher)

    class OutboxRelay(bootsteps.StartStopStep):
        """Every worker relays the outbox from its main process, once its pool is up."""

        requires = ("celery.worker.components:Pool",)

        def create(self, worker: Any) -> RelayLoop:  # type: ignore[override]
            # Started, stopped and terminated with the worker (StartStopStep runs ``obj``).
            return RelayLoop(relay_round, RELAY_INTERVAL, on_stop=publisher.close)

    celery.steps["worker"].add(OutboxRelay)
    return celery


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "purge-expired-tokens": {
            "task": "app.auth.tasks.purge_expired_tokens",
            "schedule": float(settings.token_purge_interval),
        },
        "reap-stuck-jobs": {
            "task": "app.jobs.tasks.reap_stuck_jobs",
            "schedule": float(settings.job_reaper_interval),
        },
        "purge-finished-jobs": {
            "task": "app.jobs.tasks.purge_finished_jobs",
            "schedule": float(RETENTION_INTERVAL),
        },
        "purge-sent-messages": {
            "task": "app.core.outbox.purge_sent_messages",
            "schedule": float(RETENTION_INTERVAL),
        },
        "purge-expired-idempotency-keys": {
            "task": "app.core.idempotency.purge_expired_idempotency_keys",
            "schedule": float(RETENTION_INTERVAL),
        },
    }


def task_request_id(task: Task[Any, Any]) -> str | None:
    headers = getattr(task.request, "headers", None) or {}
    return getattr(task.request, REQUEST_ID_HEADER, None) or headers.get(REQUEST_ID_HEADER)


def enqueue_after_commit(task: Task[Any, Any], *args: Any, task_id: str | None = None) -> None:
    """Send ``task`` once the current transaction commits; never if it rolls back.

    Writes an outbox row into the current session, so the message is committed with the rows
    it is about. Right after the commit this process publishes it (or, without a broker, runs
    it); if it cannot, the workers' relay does. ``task_id`` (default: the outbox row's id) is
    the Celery task id, stable across redeliveries.
    """
    publisher: Publisher = current_app.extensions["publisher"]
    # While the broker is failing, leave the message to the relay rather than try again.
    claimed = not publisher.paused()
    message = write_message(task.name, list(args), task_id=task_id, claimed=claimed)
    if claimed:
        db.session().info.setdefault(_PENDING, []).append(message)


def _publish_after_commit(session: Session) -> None:
    messages: list[Message] = session.info.pop(_PENDING, [])
    if not messages:
        return
    publisher: Publisher = current_app.extensions["publisher"]
    # The committed session can run no more SQL: record the outcome in a session of its own.
    with current_app.app_context():
        try:
            outcome = publish_claimed(publisher, messages)
        except Exception:
            # Never an error response for a committed request: the rows wait for the relay.
            log.exception("could not record the publishing of %s outbox messages", len(messages))
            db.session.rollback()
            return
        if outcome.error is not None:
            log.warning(
                "broker unavailable (%s); %s messages wait in the outbox for the relay",
                outcome.error,
                len(messages) - outcome.sent,
            )
        elif publisher.in_process:
            # No relay runs without a broker: pick up anything an earlier process left behind.
            relay_due(publisher)


def _forget_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without a commit
        session.info.pop(_PENDING, None)


def _stamp_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def _connect_once() -> None:
    """Signal and session hooks are process-wide; connect them once, whatever the app count."""
    if not event.contains(Session, "after_commit", _publish_after_commit):
        event.listen(Session, "after_commit", _publish_after_commit)
        event.listen(Session, "after_transaction_end", _forget_pending)
    before_task_publish.connect(_stamp_request_id, weak=False, dispatch_uid="app.request_id")
    # The app already logs to stdout in its own format; Celery must not reconfigure logging.
    setup_logging.connect(_keep_app_logging, weak=False, dispatch_uid="app.logging")
    worker_ready.connect(_quiet_warm_shutdown, weak=False, dispatch_uid="app.quiet_shutdown")
    worker_shutting_down.connect(_log_shutdown, weak=False, dispatch_uid="app.log_shutdown")


def _log_shutdown(sig: str = "", how: str = "", **_: Any) -> None:
    log.info("worker: %s shutdown on %s; running tasks finish first", how, sig)


def _quiet_warm_shutdown(sender: Any = None, **_: Any) -> None:
    """Keep the warm shutdown on SIGTERM, without the plain-text line Celery prints for it.

    Every line a production process writes is JSON; Celery has no setting for this line, so
    its own handler is installed again with ``verbose=False``, and ``_log_shutdown`` says the
    same as a log event.
    """
    if threading.current_thread() is not threading.main_thread() or sender is None:
        return  # an in-process test worker: signals belong to the main thread
    from celery.apps.worker import _shutdown_handler  # type: ignore[attr-defined]

    _shutdown_handler(sender.controller, sig="SIGTERM", how="Warm", verbose=False)


def _keep_app_logging(**_: Any) -> None:
    return None


def check_broker(settings: Settings) -> None:
    """Raise unless the configured broker accepts a connection within a short timeout."""
    if not settings.celery_broker_url:
        return
    with Connection(
        settings.celery_broker_url,
        connect_timeout=BROKER_CHECK_TIMEOUT,
        transport_options=fail_fast(BROKER_CHECK_TIMEOUT),
    ) as connection:
        connection.default_channel  # noqa: B018 - opening the channel is the check
