"""Jobs through the Procfile's processes: a broker that is stopped costs no request, a worker
killed mid-job costs no job, and how long a job waits between its commit and its start.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, func, select, text

from app.core.outbox import OutboxMessage
from app.jobs.models import Job, JobState
from tests.conftest import MEASUREMENTS, Mailbox, RedisNamespace, free_port, make_settings
from tests.process.conftest import (
    Databases,
    Processes,
    WebServer,
    command,
    environment,
    missing_service,
    session,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

QUICK_START = ("--without-mingle", "--without-gossip")


class RedisServer:
    """A private redis-server on a free port, started (and stopped) by the test."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [self.program, "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603
        client = redis.Redis(port=self.port)
        wait_until("redis-server answers", lambda: _pings(client))
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def stopped_redis() -> Iterator[RedisServer]:
    program = shutil.which("redis-server")
    if program is None:
        missing_service("redis-server is not installed")
    server = RedisServer(program)
    try:
        yield server
    finally:
        server.stop()


def beat(processes: Processes, env: dict[str, str]) -> None:
    schedule = Path(tempfile.mkdtemp(prefix="proc-beat-")) / "schedule"
    processes.start("beat", command("beat", "--schedule", str(schedule)), env)


def sign_in(web: WebServer, email: str) -> dict[str, str]:
    web.sign_up(email)
    return {"Authorization": f"Bearer {web.tokens(email)['access_token']}"}


def job_state(web: WebServer, location: str, headers: dict[str, str]) -> dict[str, Any]:
    reply = web.request("GET", location, headers=headers)
    assert reply.status == 200, reply.body
    return dict(reply.json())


def test_with_the_broker_stopped_requests_answer_and_their_tasks_run_once_it_starts(
    processes: Processes,
    databases: Databases,
    stopped_redis: RedisServer,
    mailbox: Mailbox,
) -> None:
    database_url = databases.create()
    env = environment(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=f"{stopped_redis.url}/0",
        CELERY_RESULT_BACKEND=f"{stopped_redis.url}/1",
        SMTP_URL=mailbox.url,
        SMTP_STARTTLS="false",
    )
    worker = processes.start("worker", command("worker", *QUICK_START), env)
    beat(processes, env)
    web = processes.web(env)

    began = time.monotonic()
    web.sign_up("outage@example.com")  # 201 with the broker stopped
    signed_up = time.monotonic()
    headers = {"Authorization": f"Bearer {web.tokens('outage@example.com')['access_token']}"}
    export_began = time.monotonic()
    export = web.request(
        "POST", "/api/v1/books/exports", json_body={"format": "json"}, headers=headers
    )
    exported = time.monotonic()
    assert export.status == 202, export.body
    report(
        f"\nbroker stopped: sign-up answered in {(signed_up - began) * 1000:.0f} ms, "
        f"export in {(exported - export_began) * 1000:.0f} ms",
    )
    location = export.headers["location"]
    ready = web.request("GET", "/readyz").json()
    assert ready == {"status": "degraded", "checks": {"broker": "unavailable"}}

    stopped_redis.start()
    wait_until(
        "the export succeeds",
        lambda: job_state(web, location, headers)["state"] == "SUCCESS",
        timeout=30,
        show=(worker, web.process),
    )
    wait_until("the welcome email arrives", lambda: mailbox.messages, show=(worker,))
    assert [message["To"] for message in mailbox.messages] == ["outage@example.com"]
    with session(database_url) as rows:
        assert rows.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
    # Job results live in the database only: nothing reached the result backend.
    backend = redis.Redis.from_url(f"{stopped_redis.url}/1")
    assert list(backend.scan_iter("celery-task-meta-*")) == []
    backend.close()


@contextlib.contextmanager
def books_locked(database_url: str) -> Iterator[None]:
    """Hold a lock that stops every read of the books table until the block ends."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text("LOCK TABLE books IN ACCESS EXCLUSIVE MODE"))
            else:
                connection.execute(text("LOCK TABLES books WRITE"))
            try:
                yield
            finally:
                if engine.dialect.name != "postgresql":
                    connection.execute(text("UNLOCK TABLES"))
                connection.rollback()
    finally:
        engine.dispose()


def test_a_worker_killed_mid_job_leaves_the_job_done_once(
    processes: Processes, databases: Databases, fresh_redis: RedisNamespace
) -> None:
    database_url = databases.create()
    if database_url.startswith("sqlite"):
        pytest.skip("holds a table lock that stops reads mid-task: PostgreSQL and MariaDB only")
    env = environment(
        fresh_redis.env,
        DATABASE_URL=database_url,
        CELERY_TASK_TIME_LIMIT="10",
        JOB_REAPER_INTERVAL="1",
    )
    first = processes.start("worker1", command("worker", "--concurrency", "1", *QUICK_START), env)
    beat(processes, env)
    web = processes.web(env)
    headers = sign_in(web, "killed@example.com")
    web.request(
        "POST",
        "/api/v1/books",
        json_body={"title": "Dune", "author": "Frank Herbert"},
        headers=headers,
    )

    with books_locked(settings_url(database_url)):
        export = web.request(
            "POST", "/api/v1/books/exports", json_body={"format": "json"}, headers=headers
        )
        location = export.headers["location"]
        wait_until(
            "the worker has started the export (and waits for the books)",
            lambda: job_state(web, location, headers)["state"] == "STARTED",
            show=(first,),
        )
        first.kill()  # SIGKILL to the worker and its pool: no warm shutdown, no acknowledgement
        assert first.popen.returncode == -signal.SIGKILL

    second = processes.start("worker2", command("worker", "--concurrency", "1", *QUICK_START), env)
    wait_until(
        "the reaper sends the job again and the new worker finishes it",
        lambda: job_state(web, location, headers)["state"] == "SUCCESS",
        timeout=60,
        show=(second,),
    )
    job = job_state(web, location, headers)
    assert job["result"]["count"] == 1
    assert job["error"] is None
    with session(database_url) as rows:
        stored = rows.get(Job, job["id"])
        assert stored is not None
        assert (stored.state, stored.attempts) == (JobState.SUCCESS, 2)


def settings_url(database_url: str) -> str:
    """The URL with the driver the app uses (the test's own connection needs it too)."""
    return make_settings(database_url=database_url).database_url


def test_commit_to_start_latency(
    processes: Processes, databases: Databases, fresh_redis: RedisNamespace
) -> None:
    """Not a pass/fail check: measures the time from writing a job to a worker starting it."""
    database_url = databases.create()
    env = environment(
        fresh_redis.env,
        DATABASE_URL=database_url,
    )
    worker = processes.start("worker", command("worker", "--concurrency", "1", *QUICK_START), env)
    web = processes.web(env)
    headers = sign_in(web, "latency@example.com")
    locations = []
    for _ in range(100):
        export = web.request(
            "POST", "/api/v1/books/exports", json_body={"format": "json"}, headers=headers
        )
        locations.append(export.headers["location"])
        wait_until(
            "the export succeeds",
            lambda: job_state(web, locations[-1], headers)["state"] == "SUCCESS",
            show=(worker,),
        )
    with session(database_url) as rows:
        jobs = rows.scalars(select(Job)).all()
        waits = sorted(
            (job.started_at - job.created_at).total_seconds() for job in jobs if job.started_at
        )
    assert len(waits) == 100
    backend = make_settings(database_url=database_url).database.get_backend_name()
    report(
        f"\ncommit-to-start of {len(waits)} jobs ({backend}, Redis): "
        f"p50 {statistics.median(waits) * 1000:.1f} ms, p99 {waits[98] * 1000:.1f} ms, "
        f"max {waits[-1] * 1000:.1f} ms",
    )


def report(line: str) -> None:
    """Show a measurement after the run (these are numbers to read, not to assert)."""
    MEASUREMENTS.append(line.strip())
