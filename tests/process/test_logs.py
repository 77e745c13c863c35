"""XI. Logs: in production, every line each process writes is an ECS JSON event of the service,
and every field of it is an Elastic Common Schema field of the right type, so an ELK stack
ingests them as they are.

The web, worker and beat processes run with APP_ENV=production and tracing on, serve a few
requests (a 404 and other client errors among them, a sign-up whose email the worker sends, a
book saved, a request that fails with a 500) and a task that fails, and are stopped; then every
line of their stdout and stderr is read back and checked against the field list generated from
npm's @elastic/ecs (tests/ecs_fields.tsv).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD, Mailbox, RedisNamespace
from tests.ecs import ecs_problems
from tests.process.conftest import (
    Databases,
    Process,
    Processes,
    RecordingEndpoint,
    WebServer,
    command,
    ecs_field,
    environment,
    non_ecs_lines,
    session,
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
    module_redis: RedisNamespace,
    smtp_server: Mailbox,
) -> Stack:
    collector = RecordingEndpoint()
    database_url = module_databases.create()
    env = environment(
        module_redis.env,
        production=True,
        DATABASE_URL=database_url,
        # As production counts them: the worker refuses per-process counts with two children.
        RATELIMIT_STORAGE_URI=module_redis.url,
        SMTP_URL=smtp_server.url,
        SMTP_STARTTLS="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
    )
    collector.__enter__()
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
    accepted = web.request(
        "POST",
        "/api/v1/auth/signup",
        json_body=signup,
        headers={"X-Request-ID": SIGNUP_REQUEST_ID},
    )
    assert accepted.status == 202
    wait_until(
        "the worker has sent the welcome email",
        lambda: worker.logged("welcome email sent"),
        show=(worker,),
    )
    wait_until("beat has started", lambda: beat.logged("beat: Starting"), show=(beat,))
    token = web.tokens("eve@example.com")["access_token"]
    book = {"title": "Dune", "author": "Frank Herbert"}
    auth = {"Authorization": f"Bearer {token}"}
    assert web.request("POST", "/api/v1/books", json_body=book, headers=auth).status == 201
    module_redis.broker.send_task("app.books.tasks.export_books", kwargs={"unexpected": 1})
    wait_until("the worker has logged the failed task", lambda: worker.logged("raised"))
    with session(database_url) as db:  # a bug's stand-in: the table is gone under the server
        db.execute(text("ALTER TABLE books RENAME TO books_gone"))
        db.commit()
    assert web.request("GET", "/api/v1/books", headers=auth).status == 500

    exit_codes = {process.name: process.stop() for process in (web.process, worker, beat)}
    collector.__exit__()
    return Stack(web, worker, beat, exit_codes)


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


@pytest.mark.parametrize("name", ["web", "worker", "beat"])
def test_every_field_is_an_ecs_field_of_its_type(stopped_stack: Stack, name: str) -> None:
    process = {"web": stopped_stack.web.process, "worker": stopped_stack.worker}.get(
        name, stopped_stack.beat
    )
    events = process.events()
    assert events
    problems = sorted({problem for event in events for problem in ecs_problems(event)})
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_the_failing_request_is_logged_with_its_error_and_trace(stopped_stack: Stack) -> None:
    failed = [
        event
        for event in stopped_stack.web.process.events()
        if ecs_field(event, "error.stack_trace") and ecs_field(event, "trace.id")
    ]
    assert failed, "no error event with a stack trace and a trace id"


def test_a_project_field_is_a_label(stopped_stack: Stack) -> None:
    saved = [e for e in stopped_stack.web.process.events() if e.get("message") == "book saved"]
    assert [ecs_field(event, "labels.book_id") for event in saved] == ["1"]


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
    text = welcome.get_body(("plain",))
    assert text is not None
    lines = text.get_content().strip().splitlines()
    greeting = lines[0]
    assert greeting == "Hello Eve,"
    # The link's token is a secret that must not reach any log either.
    link = next(line for line in lines if "/verify-email?token=" in line)
    for process in (stopped_stack.web.process, stopped_stack.worker):
        for secret in (greeting, link):
            assert not [line for _, line in process.lines() if secret in line], process.name
