"""An operator points OTEL_EXPORTER_OTLP_ENDPOINT at a collector and follows one request from
the caller, through the web process and the broker, into the task and the mail it sends.

The collector is an OTLP/HTTP receiver the test starts, decoding the protobuf export requests
with opentelemetry-proto; the web and worker processes are the Procfile's, with a real broker.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import Mailbox, RedisNamespace, free_port
from tests.process.conftest import (
    Databases,
    Process,
    Processes,
    RecordingEndpoint,
    WebServer,
    command,
    ecs_field,
    environment,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

CALLER_TRACE_ID = secrets.token_hex(16)
CALLER_SPAN_ID = secrets.token_hex(8)
TRACEPARENT = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"
REQUEST_ID = f"traced-{secrets.token_hex(8)}"


@dataclass
class Traced:
    web: WebServer
    # A second web process whose broker is down: what it sends goes through the outbox relay.
    web_without_broker: WebServer
    worker: Process
    collector: RecordingEndpoint
    mailbox: Mailbox

    def spans(self) -> list[Span]:
        found = []
        for received in list(self.collector.received):
            if received.path != "/v1/traces":
                continue
            export = ExportTraceServiceRequest.FromString(received.body)
            for resource_spans in export.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    found.extend(scope_spans.spans)
        return found

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans() if span.trace_id.hex() == trace_id]

    def sign_up(
        self, web: WebServer, email: str, traceparent: str, request_id: str = ""
    ) -> list[Span]:
        """Sign up through ``web`` as a caller in a trace; its spans, once all are exported."""
        headers = {"traceparent": traceparent}
        if request_id:
            headers["X-Request-ID"] = request_id
        reply = web.request(
            "POST",
            "/api/v1/auth/signup",
            json_body={"email": email, "password": "a long enough password", "name": "T"},
            headers=headers,
        )
        assert reply.status == 202, reply.body
        _, trace_id, caller_span_id, _ = traceparent.split("-")
        wait_until(
            "the request's and the task's spans have been exported",
            lambda: exported(self.trace(trace_id), bytes.fromhex(caller_span_id)),
            show=(web.process, self.worker),
            state=lambda: str(sorted({(s.trace_id.hex(), s.name) for s in self.spans()})),
        )
        return self.trace(trace_id)


@pytest.fixture(scope="module")
def traced(
    module_processes: Processes,
    module_databases: Databases,
    module_redis: RedisNamespace,
    smtp_server: Mailbox,
) -> Iterator[Traced]:
    answer = ExportTraceServiceResponse().SerializeToString()
    with RecordingEndpoint(answer) as collector:
        env = environment(
            module_redis.env,
            DATABASE_URL=module_databases.create(),
            SMTP_URL=smtp_server.url,
            SMTP_STARTTLS="false",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_SERVICE_NAME="service-under-test",
            # Export each batch after 100 ms rather than 5 s, so the test waits less.
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        web = module_processes.start_web(env)
        dead_broker = f"redis://127.0.0.1:{free_port()}/0"
        web_without_broker = module_processes.start_web(
            {**env, "CELERY_BROKER_URL": dead_broker}, name="web-without-broker"
        )
        worker = module_processes.start("worker", command("worker"), env)
        web.wait_ready()
        web_without_broker.wait_ready()
        yield Traced(web, web_without_broker, worker, collector, smtp_server)


@pytest.fixture(scope="module")
def signup_trace(traced: Traced) -> list[Span]:
    """A sign-up sent with the caller's traceparent; its welcome email is sent by a task."""
    return traced.sign_up(traced.web, "tracy@example.com", TRACEPARENT, REQUEST_ID)


def test_a_task_relayed_from_the_outbox_joins_the_trace_too(traced: Traced) -> None:
    """The web process could not reach the broker: a worker's relay sent the task later."""
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    spans = traced.sign_up(traced.web_without_broker, "relay@example.com", traceparent)
    (server,) = by_kind(spans, Span.SPAN_KIND_SERVER)
    relayed = by_kind(spans, Span.SPAN_KIND_PRODUCER)
    # Sent by the relay, as a child of the request that wrote the message.
    assert [span.parent_span_id for span in relayed] == [server.span_id] * len(relayed)
    (consumer,) = by_kind(spans, Span.SPAN_KIND_CONSUMER)
    assert consumer.parent_span_id in {span.span_id for span in relayed}


def exported(spans: list[Span], caller_span_id: bytes) -> bool:
    """Whether the spans of a sign-up are all in: the request's, and its task's with its mail.

    Processes export on their own schedules (the relay's span can arrive after the task's), so
    the trace is whole only once every span's parent is the caller or a span already received.
    """
    kinds = {span.kind for span in spans}
    known = {caller_span_id} | {span.span_id for span in spans}
    return (
        {Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CONSUMER} <= kinds
        and any(span.name == "smtp send" for span in spans)
        and all(span.parent_span_id in known for span in spans)
    )


def by_kind(spans: list[Span], kind: Any) -> list[Span]:
    return [span for span in spans if span.kind == kind]


def attributes(span: Span) -> dict[str, Any]:
    return {
        item.key: getattr(item.value, item.value.WhichOneof("value")) for item in span.attributes
    }


def test_the_request_continues_the_callers_trace(signup_trace: list[Span]) -> None:
    (server,) = by_kind(signup_trace, Span.SPAN_KIND_SERVER)
    assert server.parent_span_id.hex() == CALLER_SPAN_ID
    assert attributes(server)["http.route"] == "/api/v1/auth/signup"


def test_the_task_joins_the_trace_of_the_request_that_sent_it(signup_trace: list[Span]) -> None:
    (consumer,) = by_kind(signup_trace, Span.SPAN_KIND_CONSUMER)
    assert "send_welcome_email" in consumer.name
    (mail,) = [span for span in signup_trace if span.name == "smtp send"]
    assert mail.kind == Span.SPAN_KIND_CLIENT
    assert mail.parent_span_id == consumer.span_id


def test_sql_statements_are_spans_of_the_trace(signup_trace: list[Span]) -> None:
    statements = [span for span in signup_trace if "db.system" in attributes(span)]
    assert any("INSERT" in str(attributes(span).get("db.statement")) for span in statements)


def test_the_spans_name_the_service(traced: Traced, signup_trace: list[Span]) -> None:
    export = ExportTraceServiceRequest.FromString(
        next(r.body for r in traced.collector.received if r.path == "/v1/traces")
    )
    resource = {
        item.key: item.value.string_value for item in export.resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "service-under-test"


def test_log_events_of_the_request_and_task_carry_the_trace_id(
    traced: Traced, signup_trace: list[Span]
) -> None:
    web_events = [
        event
        for event in traced.web.process.events()
        if ecs_field(event, "http.request.id") == REQUEST_ID
    ]
    assert web_events
    assert {ecs_field(event, "trace.id") for event in web_events} == {CALLER_TRACE_ID}
    assert all(ecs_field(event, "span.id") for event in web_events)

    def task_events() -> list[dict[str, Any]]:
        return [
            event
            for event in traced.worker.events()
            if ecs_field(event, "http.request.id") == REQUEST_ID
        ]

    wait_until("the task has logged", task_events, show=(traced.worker,))
    assert {ecs_field(event, "trace.id") for event in task_events()} == {CALLER_TRACE_ID}
