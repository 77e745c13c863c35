"""XI. Logs: in production, every line each process writes is an ECS JSON event of the service.

The web, worker and beat processes run with APP_ENV=production, serve a few requests (a 404
and other client errors among them, a sign-up whose email the worker sends) and are stopped;
then every line of their stdout and stderr is read back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import PASSWORD, Mailbox
from tests.process.conftest import (
    Databases,
    Process,
    Processes,
    WebServer,
    command,
    ecs_field,
    environment,
    flush_redis,
    non_ecs_lines,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

SIGNUP_REQUEST_ID = f"signup-{uuid.uuid4().hex}"
MISSING_REQUEST_ID = f"missing-{uuid.uuid4().hex}"


@dataclass
class Stack:
    web: WebServer
    worker: Process
    beat: Process
    exit_codes: dict[str, int]


@pytest.fixture(scope="module")
def stopped_stack(
    module_processes: Processes,
    module_databases: Databases,
    redis_url: str,
    smtp_server: Mailbox,
) -> Iterator[Stack]:
    flush_redis(redis_url)
    env = environment(
        production=True,
        DATABASE_URL=module_databases.create(),
        CELERY_BROKER_URL=redis_url,
        SMTP_URL=smtp_server.url,
        SMTP_STARTTLS="false",
    )
    web = module_processes.start_web(env)
    worker = module_processes.start("worker", command("worker"), env)
    beat = module_processes.start("beat", command("beat", "--schedule", "celerybeat-schedule"), env)
    web.wait_ready()

    assert web.request("GET", "/readyz").status == 200
    missing = web.request("GET", "/no-such-page", headers={"X-Request-ID": MISSING_REQUEST_ID})
    assert missing.status == 404
    wrong = {"email": "nobody@example.com", "password": "not the password"}
    assert web.request("POST", "/api/v1/auth/login", json_body=wrong).status == 401
    assert web.request("POST", "/api/v1/auth/signup", json_body={"email": "x"}).status == 422
    signup = {"email": "eve@example.com", "password": PASSWORD, "name": "Eve"}
    created = web.request(
        "POST",
        "/api/v1/auth/signup",
        json_body=signup,
        headers={"X-Request-ID": SIGNUP_REQUEST_ID},
    )
    assert created.status == 201
    wait_until(
        "the worker has sent the welcome email",
        lambda: worker.logged("welcome email sent"),
        show=(worker,),
    )
    wait_until("beat has started", lambda: beat.logged("beat: Starting"), show=(beat,))

    exit_codes = {process.name: process.stop() for process in (web.process, worker, beat)}
    yield Stack(web, worker, beat, exit_codes)
    flush_redis(redis_url)


def assert_only_ecs_events(process: Process) -> None:
    bad = non_ecs_lines(process)
    assert not bad, f"{len(bad)} lines are not ECS JSON events:\n" + "\n".join(map(str, bad))


def test_every_process_exits_0_on_sigterm(stopped_stack: Stack) -> None:
    assert stopped_stack.exit_codes == {"web": 0, "worker": 0, "beat": 0}


def test_every_line_of_the_web_process_is_an_ecs_event(stopped_stack: Stack) -> None:
    assert_only_ecs_events(stopped_stack.web.process)


def test_every_line_of_the_worker_is_an_ecs_event(stopped_stack: Stack) -> None:
    assert_only_ecs_events(stopped_stack.worker)


def test_every_line_of_beat_is_an_ecs_event(stopped_stack: Stack) -> None:
    assert_only_ecs_events(stopped_stack.beat)


def test_the_404_is_an_access_event_with_its_request_id(stopped_stack: Stack) -> None:
    (event,) = [
        event
        for event in stopped_stack.web.process.events()
        if ecs_field(event, "http.request.id") == MISSING_REQUEST_ID
    ]
    assert ecs_field(event, "http.response.status_code") == 404
    assert ecs_field(event, "url.path") == "/no-such-page"
    assert ecs_field(event, "service.environment") == "production"


def test_the_worker_logs_the_email_with_the_request_id_of_the_signup(stopped_stack: Stack) -> None:
    sent = [
        event
        for event in stopped_stack.worker.events()
        if "welcome email sent" in str(event["message"])
    ]
    assert [ecs_field(event, "http.request.id") for event in sent] == [SIGNUP_REQUEST_ID]


def test_no_mail_body_reaches_the_production_logs(
    stopped_stack: Stack, smtp_server: Mailbox
) -> None:
    (welcome,) = [m for m in smtp_server.messages if m["To"] == "eve@example.com"]
    body = welcome.get_content().strip().splitlines()[0]
    assert body == "Hello Eve,"
    for process in (stopped_stack.web.process, stopped_stack.worker):
        assert not [line for _, line in process.lines() if body in line], process.name
