"""Metrics, traces and error reports: each is off until configured, and only then imported.

- ``METRICS_PORT``: Prometheus metrics (``app/core/metrics.py``), prometheus-client in
  multiprocess mode so one scrape sees every process of a server.
- ``OTEL_EXPORTER_OTLP_ENDPOINT``: OpenTelemetry traces (``app/core/tracing.py``).
- ``SENTRY_DSN``: error reports (``app/core/error_reporting.py``).

This module imports none of those libraries, so a process with a feature off never loads it
and a request pays nothing for it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from flask import Flask

from app.core.settings import Settings

# prometheus-client reads this when it is imported, to write values to files in that folder.
METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def init_app(app: Flask, settings: Settings) -> None:
    """Turn on what ``settings`` configure; call after the Celery app is built."""
    if settings.sentry_dsn:
        from app.core import error_reporting

        error_reporting.init(settings)
    if settings.tracing_enabled:
        from app.core import tracing

        tracing.init_app(app, settings)
    if settings.metrics_port:
        own_metrics_directory()
        from app.core import metrics

        metrics.init_app(app, settings)


def own_metrics_directory() -> None:
    """Give this process a fresh folder for the metric values of itself and its children.

    gunicorn's master calls this before it forks workers, and a Celery worker before its
    pool starts; a process whose parent already did keeps the parent's folder. The folder
    goes when its owner exits, so a restart never adds stale values to new ones.
    """
    if os.environ.get(METRICS_DIRECTORY_VARIABLE):
        return
    path = tempfile.mkdtemp(prefix="prometheus-metrics-")
    os.environ[METRICS_DIRECTORY_VARIABLE] = path
    owner = os.getpid()

    def remove_if_owner() -> None:
        # Forked children (gunicorn workers) inherit this hook and run it when they exit.
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove_if_owner)


def process_exited(pid: int) -> None:
    """Forget the live gauges (in-flight requests, pool) of a gunicorn worker that exited."""
    if os.environ.get(METRICS_DIRECTORY_VARIABLE):
        from app.core import metrics

        metrics.process_exited(pid)


def serve_metrics(settings: Settings, host: str) -> None:
    """Serve /metrics on METRICS_PORT from this process, aggregating its children's values."""
    if settings.metrics_port:
        from app.core import metrics

        metrics.serve(host, settings.metrics_port)
