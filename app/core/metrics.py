"""Prometheus metrics of requests, the database pool, tasks, the outbox and the build.

Imported only when METRICS_PORT is set, and after ``telemetry.own_metrics_directory()``: in
prometheus-client's multiprocess mode every process writes its values to files in one folder,
and the process serving /metrics (gunicorn's master, the Celery worker's main process) adds
them up at each scrape. Names follow OpenTelemetry's semantic conventions in Prometheus form.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from functools import cache
from typing import Any

from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown
from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Gauge, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.core import project
from app.core.extensions import db, utcnow
from app.core.health import app_version
from app.core.outbox import OutboxMessage
from app.core.settings import ServerSettings, Settings, load_settings

log = logging.getLogger(__name__)

# OpenTelemetry's advised boundaries for http.server.request.duration, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
TASK_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300)
# Any other method is counted as _OTHER, so a client cannot mint label values.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, by method, route template and status code.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=DURATION_BUCKETS,
)
ACTIVE_REQUESTS = Gauge(
    "http_server_active_requests",
    "HTTP requests being handled right now.",
    multiprocess_mode="livesum",
)
POOL_USED = Gauge(
    "db_client_connection_count",
    "Database connections checked out of the pool.",
    ["db_client_connection_state"],
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "db_client_connection_overflow",
    "Checked-out connections beyond the pool size (its overflow at work).",
    multiprocess_mode="livesum",
)
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Duration of Celery tasks, by task name and outcome (its _count counts tasks).",
    ["task_name", "outcome"],
    buckets=TASK_DURATION_BUCKETS,
)
BUILD_INFO = Gauge(
    f"{project.METRIC_PREFIX}_build_info",
    "1, labelled with the release id and version this process runs.",
    ["release", "version"],
    multiprocess_mode="max",
)


def init_app(app: Flask, settings: Settings) -> None:
    BUILD_INFO.labels(release=settings.release, version=app_version()).set(1)
    app.before_request(start_request)
    app.after_request(observe_request)
    app.teardown_request(end_request)
    with app.app_context():
        watch_pool(db.engine)
    # Signals are process-wide and only the worker sends these; connect them once.
    task_prerun.connect(start_task, weak=False, dispatch_uid="app.metrics.task_prerun")
    task_postrun.connect(observe_task, weak=False, dispatch_uid="app.metrics.task_postrun")

    def serve_worker_metrics(**_: Any) -> None:
        # A worker run in a thread (tests) belongs to a process that serves nothing.
        if threading.current_thread() is threading.main_thread() and settings.metrics_port:
            # The worker binds HOST, as the web process does for both its ports. Workers run
            # the outbox relay, so they report what waits in the outbox.
            host = load_settings(ServerSettings).host
            serve(host, settings.metrics_port, OutboxBacklog(settings.database_url))

    # Served before the pool starts and the broker is reached: a worker waiting for its broker
    # still answers scrapes, and that is when they matter most.
    worker_init.connect(serve_worker_metrics, weak=False, dispatch_uid="app.metrics.serve")
    worker_process_shutdown.connect(
        forget_pool_child, weak=False, dispatch_uid="app.metrics.child_exit"
    )


def forget_pool_child(pid: int | None = None, **_: Any) -> None:
    """A worker's pool child leaving: its live gauges leave with it."""
    if pid:
        process_exited(pid)


def start_request() -> None:
    g.metrics_started = time.perf_counter()
    ACTIVE_REQUESTS.inc()


def observe_request(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        method = request.method if request.method in KNOWN_METHODS else "_OTHER"
        # The URL rule, never the path: one series for every book, not one per book.
        route = route_template(request.url_rule.rule) if request.url_rule is not None else ""
        REQUEST_DURATION.labels(method, route, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


@cache
def route_template(rule: str) -> str:
    """``/books/<int(max=2147483647):book_id>`` -> ``/books/<book_id>``."""
    return _CONVERTER.sub(r"<\1>", rule)


def end_request(_error: BaseException | None) -> None:
    if g.pop("metrics_started", None) is not None:
        ACTIVE_REQUESTS.dec()


class PoolWatch:
    """Counts this process's checked-out connections through the pool's own events."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size = pool_size
        self.checked_out = 0
        self.lock = threading.Lock()

    def changed(self, by: int) -> None:
        with self.lock:
            self.checked_out += by
            POOL_USED.labels("used").set(self.checked_out)
            POOL_OVERFLOW.set(max(0, self.checked_out - self.pool_size))


def watch_pool(engine: Engine) -> None:
    size = engine.pool.size() if hasattr(engine.pool, "size") else 1
    watch = PoolWatch(size)
    POOL_USED.labels("used").set(0)
    POOL_OVERFLOW.set(0)
    # Listeners on the engine outlive dispose(), which replaces its pool.
    event.listen(engine, "checkout", lambda *_: watch.changed(+1))
    event.listen(engine, "checkin", lambda *_: watch.changed(-1))


_task_started: dict[str, float] = {}


def start_task(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def observe_task(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    started = _task_started.pop(task_id or "", None)
    if started is not None and task is not None:
        outcome = (state or "unknown").lower()
        TASK_DURATION.labels(task.name, outcome).observe(time.perf_counter() - started)


def registry(*collectors: Collector) -> CollectorRegistry:
    """What one scrape returns: the values of every process writing to the folder, and what
    ``collectors`` read at that moment."""
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    for collector in collectors:
        collected.register(collector)
    return collected


_serving = threading.Lock()
_served_ports: set[int] = set()


def serve(host: str, port: int, *collectors: Collector) -> None:
    """Answer scrapes on ``host:port`` from a background thread of this process (once)."""
    with _serving:
        if port in _served_ports:
            return
        start_http_server(port, addr=host, registry=registry(*collectors))
        _served_ports.add(port)


def process_exited(pid: int) -> None:
    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class OutboxBacklog:
    """What waits in the outbox, read from the database at each scrape.

    It has an engine of its own without a pool: the scrape thread never touches the
    connections (or their locks) that the relay and forked pool children use.
    """

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url, poolclass=NullPool)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        query = select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.sent_at.is_(None)
        )
        try:
            with self.engine.connect() as connection:
                pending, oldest = connection.execute(query).one()
        except SQLAlchemyError as error:
            log.warning("outbox metrics: the database did not answer: %s", error)
            return
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            f"{project.METRIC_PREFIX}_outbox_pending_messages",
            "Tasks written to the outbox and not yet handed to the broker.",
            value=pending,
        )
        yield GaugeMetricFamily(
            f"{project.METRIC_PREFIX}_outbox_oldest_pending_age_seconds",
            "Seconds the oldest task not yet handed to the broker has waited (0: none waits).",
            value=max(age, 0.0),
        )
