"""An operator sets SENTRY_DSN and sees unhandled errors of requests and tasks, without the
credentials that came with them.

The DSN points at an ingest endpoint the test starts; the web and worker processes are the
Procfile's, with a real broker. The request fails for real (its table is gone); the task fails
because it is sent arguments it does not take.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD, Broker, RedisNamespace
from tests.process.conftest import (
    Databases,
    Process,
    Processes,
    RecordingEndpoint,
    WebServer,
    command,
    environment,
    session,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

RELEASE = "2026.12.02-errors"
REQUEST_ID = f"failing-{secrets.token_hex(8)}"
TASK_REQUEST_ID = f"failing-task-{secrets.token_hex(8)}"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLW5vdC1yZWFs"
COOKIE_VALUE = f"cookie-{secrets.token_hex(8)}"
SECRETS = (BEARER, COOKIE_VALUE, PASSWORD)


@dataclass
class Reported:
    web: WebServer
    worker: Process
    ingest: RecordingEndpoint
    database_url: str
    broker: Broker

    def events(self) -> list[dict[str, Any]]:
        """The error events among every envelope received (one JSON document per line)."""
        found = []
        for received in list(self.ingest.received):
            lines = received.body.decode().splitlines()
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def raw(self) -> str:
        return "\n".join(
            received.body.decode(errors="replace") for received in self.ingest.received
        )


@pytest.fixture(scope="module")
def reported(
    module_processes: Processes, module_databases: Databases, module_redis: RedisNamespace
) -> Iterator[Reported]:
    with RecordingEndpoint() as ingest:
        database_url = module_databases.create()
        env = environment(
            module_redis.env,
            DATABASE_URL=database_url,
            APP_RELEASE=RELEASE,
            SENTRY_DSN=f"http://public-key@127.0.0.1:{ingest.port}/42",
        )
        web = module_processes.start_web(env)
        worker = module_processes.start("worker", command("worker"), env)
        web.wait_ready()
        yield Reported(web, worker, ingest, database_url, module_redis.broker)


@pytest.fixture(scope="module")
def request_event(reported: Reported) -> dict[str, Any]:
    """A log-in that fails with a 500: the users table was renamed under the running server."""
    with session(reported.database_url) as db:
        db.execute(text("ALTER TABLE users RENAME TO users_gone"))
        db.commit()
    reply = reported.web.request(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": "ada@example.com", "password": PASSWORD},
        headers={
            "Authorization": f"Bearer {BEARER}",
            "Cookie": f"session={COOKIE_VALUE}",
            "X-Request-ID": REQUEST_ID,
        },
    )
    assert reply.status == 500
    return wait_for_event(reported, REQUEST_ID)


@pytest.fixture(scope="module")
def task_event(reported: Reported) -> dict[str, Any]:
    """A task sent an argument it does not take, with a password among them."""
    reported.broker.send_task(
        "app.books.tasks.export_books",
        kwargs={"job_id": "no-such-job", "password": PASSWORD},
        headers={"request_id": TASK_REQUEST_ID},
    )
    return wait_for_event(reported, TASK_REQUEST_ID)


def wait_for_event(reported: Reported, request_id: str) -> dict[str, Any]:
    def tagged() -> list[dict[str, Any]]:
        return [
            event
            for event in reported.events()
            if event.get("tags", {}).get("request_id") == request_id
        ]

    wait_until(
        f"an event tagged {request_id} has arrived",
        tagged,
        show=(reported.web.process, reported.worker),
        state=lambda: reported.raw()[-2000:],
    )
    (event,) = tagged()
    return event


def exception_types(event: dict[str, Any]) -> list[str]:
    return [value["type"] for value in event["exception"]["values"]]


def test_an_error_in_a_request_arrives_with_release_environment_and_request_id(
    request_event: dict[str, Any],
) -> None:
    assert request_event["release"] == RELEASE
    assert request_event["environment"] == "test"
    assert request_event["request"]["url"].endswith("/api/v1/auth/login")
    assert any("Error" in name for name in exception_types(request_event))


def test_an_error_in_a_task_arrives_with_the_request_id_that_sent_it(
    task_event: dict[str, Any],
) -> None:
    assert task_event["release"] == RELEASE
    assert exception_types(task_event)[-1] == "TypeError"


def test_the_request_event_carries_no_credential(request_event: dict[str, Any]) -> None:
    flattened = json.dumps(request_event)
    for secret in SECRETS:
        assert secret not in flattened
    headers = {name.lower(): value for name, value in request_event["request"]["headers"].items()}
    assert headers.get("authorization", "[Filtered]") == "[Filtered]"
    assert headers.get("cookie", "[Filtered]") == "[Filtered]"


def test_the_task_event_carries_no_password(task_event: dict[str, Any]) -> None:
    assert PASSWORD not in json.dumps(task_event)


def test_nothing_that_reached_the_ingest_carries_a_credential(
    reported: Reported, request_event: dict[str, Any], task_event: dict[str, Any]
) -> None:
    everything = reported.raw()
    for secret in SECRETS:
        assert secret not in everything
