"""OpenTelemetry traces over OTLP/HTTP: requests, SQL, tasks and outgoing mail.

Imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set. An incoming W3C ``traceparent`` is
continued; a task joins the trace of the request that sent it (the context travels in the
message headers); log events carry ``trace.id`` and ``span.id`` while a span is active.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from flask import Flask
from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.celery import CeleryInstrumentor
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from app.core import mail, outbox
from app.core.extensions import db
from app.core.logging import StdoutHandler
from app.core.settings import Settings

TRACER_NAME = "app"  # the instrumentation scope: this code base
# Probes would fill every trace store with spans nobody reads.
EXCLUDED_URLS = "livez,readyz"

SAMPLERS: dict[str, Callable[[float], sampling.Sampler]] = {
    "always_on": lambda _: sampling.ALWAYS_ON,
    "always_off": lambda _: sampling.ALWAYS_OFF,
    "traceidratio": sampling.TraceIdRatioBased,
    "parentbased_always_on": lambda _: sampling.ParentBased(sampling.ALWAYS_ON),
    "parentbased_always_off": lambda _: sampling.ParentBased(sampling.ALWAYS_OFF),
    "parentbased_traceidratio": lambda ratio: sampling.ParentBased(
        sampling.TraceIdRatioBased(ratio)
    ),
}

_provider: TracerProvider | None = None


def init_app(app: Flask, settings: Settings) -> None:
    provider = tracer_provider(settings)
    flask = FlaskInstrumentor()
    flask.instrument_app(  # type: ignore[no-untyped-call]
        app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS
    )
    sql = SQLAlchemyInstrumentor()
    if not sql.is_instrumented_by_opentelemetry:
        with app.app_context():
            # The instrumentation declares sqlalchemy < 2.1 though its engine events work on
            # the 2.1 we lock; tests/process/test_tracing.py fails if they stop working.
            sql.instrument(engine=db.engine, tracer_provider=provider, skip_dep_check=True)
    celery = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    if not celery.is_instrumented_by_opentelemetry:
        celery.instrument(tracer_provider=provider)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, StdoutHandler):
            handler.addFilter(TraceContextFilter())
    # Deferred work stays in the trace that asked for it, and mail gets a span of its own.
    # (Connecting a receiver twice, for a second app in one process, connects it once.)
    outbox.message_writing.connect(_carry_trace, weak=False)
    outbox.message_publishing.connect(_continue_trace, weak=False)
    mail.mail_sending.connect(_smtp_span, weak=False)


def _carry_trace(_sender: object) -> dict[str, str]:
    return current_carrier()


def _continue_trace(_sender: object, headers: Mapping[str, str]) -> AbstractContextManager[None]:
    return continued(headers)


def _smtp_span(_sender: object, host: str, port: int) -> AbstractContextManager[None]:
    return client_span("smtp send", {"server.address": host, "server.port": port})


def tracer_provider(settings: Settings) -> TracerProvider:
    """The process's provider, built once: spans go out in batches from a background thread
    (which the SDK restarts in forked children, such as Celery's pool)."""
    global _provider  # the SDK allows one global provider per process
    if _provider is None:
        resource = Resource.create(
            {
                "service.name": settings.otel_service_name,
                "service.version": settings.release,
                "deployment.environment.name": settings.app_env,
            }
        )
        sampler = SAMPLERS[settings.otel_traces_sampler](settings.otel_traces_sampler_arg)
        _provider = TracerProvider(resource=resource, sampler=sampler)
        endpoint = f"{(settings.otel_exporter_otlp_endpoint or '').rstrip('/')}/v1/traces"
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(_provider)
    return _provider


class TraceContextFilter(logging.Filter):
    """Put the active span's ids on each log event, as ECS ``trace.id`` and ``span.id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.__dict__["trace.id"] = trace.format_trace_id(span_context.trace_id)
            record.__dict__["span.id"] = trace.format_span_id(span_context.span_id)
        return True


@contextmanager
def client_span(name: str, attributes: Mapping[str, Any]) -> Iterator[None]:
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
        yield


def current_carrier() -> dict[str, str]:
    """The active trace context as W3C headers (``traceparent``), to store with work for later."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def continued(carrier: Mapping[str, str]) -> Iterator[None]:
    """Make the context stored in ``carrier`` the active one, so spans started here join it."""
    token = context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        context.detach(token)
