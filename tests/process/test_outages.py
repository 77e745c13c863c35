"""IV. Backing services, when they go away: the Procfile's web process, in production mode with
two workers, keeps its promises while its PostgreSQL restarts or stops, and while its rate-limit
store (Redis) is down.

Each test starts servers of its own (a PostgreSQL cluster in a temporary folder, a redis-server
on a free port) and stops them; the machine's shared servers are never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask_migrate import upgrade

from app import create_app
from app.core.extensions import db
from tests.conftest import RedisNamespace, free_port, make_settings
from tests.process.conftest import (
    Databases,
    Processes,
    Reply,
    WebServer,
    ecs_field,
    environment,
    missing_service,
    wait_until,
)

pytestmark = [
    pytest.mark.no_shared_db,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith(("postgres://", "postgresql")),
        reason="runs in the matrix's PostgreSQL leg (TEST_DATABASE_URL=postgresql://...)",
    ),
]

CONNECT_TIMEOUT = 5  # DATABASE_CONNECT_TIMEOUT's default, which bounds every 503
RETRY_AFTER = 5  # DATABASE_RETRY_AFTER's default
AUTH_LIMIT = 10  # RATELIMIT_AUTH's default, per minute
WORKERS = 2
PG_COMMAND_TIMEOUT = 60


# --- a PostgreSQL of the test's own ------------------------------------------------------


def postgresql_bin() -> Path:
    """Where initdb and pg_ctl are: TEST_PG_BIN, the PATH, or Debian's newest version."""
    candidates = [os.environ.get("TEST_PG_BIN", "")]
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=debian_version, reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return missing_service("PostgreSQL's initdb and pg_ctl are not installed (set TEST_PG_BIN)")


def debian_version(folder: str) -> int:
    version = Path(folder).parent.name
    return int(version) if version.isdigit() else 0


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: trust auth, loopback only, on a free port.

    PostgreSQL refuses to run as root, so under root its commands run as the postgres user.
    """

    def __init__(self) -> None:
        self.bin = postgresql_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="outage-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def _pg_ctl(self, action: str, *arguments: str) -> None:
        # The server's output goes to a log file: a server holding our pipe would block us.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-o", options, "-l", log, "-w", *arguments
        )

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *arguments: str) -> None:
        argv = [str(self.bin / program), *arguments]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(  # noqa: S603 - our own command line
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PG_COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"{program} {' '.join(arguments)} failed:\n{done.stdout}{done.stderr}")


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        app = create_app(make_settings(database_url=server.url))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield server
    finally:
        server.remove()


@pytest.fixture
def web_on_postgres(
    processes: Processes, postgres: PrivatePostgres, fresh_redis: RedisNamespace
) -> WebServer:
    """The Procfile's web process as production runs it: two workers, default timeouts."""
    env = environment(
        fresh_redis.env,
        production=True,
        DATABASE_URL=postgres.url,
        RATELIMIT_STORAGE_URI=fresh_redis.url,
        WEB_CONCURRENCY=str(WORKERS),
    )
    return processes.web(env)


@contextlib.contextmanager
def signed_in(web: WebServer) -> Iterator[dict[str, str]]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    web.sign_up(email)
    yield {"Authorization": f"Bearer {web.tokens(email)['access_token']}"}


def bounded(web: WebServer, method: str, path: str, **options: Any) -> Reply:
    """A request that must be answered within the database's connect timeout (plus the
    process's own work): a hung request fails the test instead of waiting for it."""
    return web.request(method, path, timeout=CONNECT_TIMEOUT + 3, **options)


def test_a_database_restart_under_the_running_app_costs_no_request(
    web_on_postgres: WebServer, postgres: PrivatePostgres
) -> None:
    web = web_on_postgres
    with signed_in(web) as bearer:
        for _ in range(2 * WORKERS):  # every worker holds a pooled connection
            assert web.request("GET", "/api/v1/books", headers=bearer).status == 200

        postgres.restart()

        statuses = []
        for number in range(4 * WORKERS):
            book = {"title": f"After the restart {number}", "author": "Ops"}
            statuses.append(web.request("GET", "/api/v1/books", headers=bearer).status)
            statuses.append(
                web.request("POST", "/api/v1/books", json_body=book, headers=bearer).status
            )
        statuses.append(web.request("GET", "/readyz").status)
    assert all(status < 500 for status in statuses), statuses
    assert set(statuses) == {200, 201}


def test_a_stopped_database_is_a_503_to_retry_and_the_app_recovers_by_itself(
    web_on_postgres: WebServer, postgres: PrivatePostgres
) -> None:
    web = web_on_postgres
    with signed_in(web) as bearer:
        postgres.stop()

        book = {"title": "T", "author": "A"}
        login = {"email": "x@example.com", "password": "wrong password"}
        attempts: dict[str, tuple[str, str, dict[str, Any]]] = {
            "read": ("GET", "/api/v1/books", {"headers": bearer}),
            "write": ("POST", "/api/v1/books", {"headers": bearer, "json_body": book}),
            "login": ("POST", "/api/v1/auth/login", {"json_body": login}),
            "readiness": ("GET", "/readyz", {}),
        }
        for name, (method, path, options) in attempts.items():
            request_id = f"db-down-{name}"
            headers = {**options.pop("headers", {}), "X-Request-ID": request_id}
            reply = bounded(web, method, path, headers=headers, **options)

            assert reply.status == 503, (name, reply.body)
            assert reply.headers["content-type"] == "application/problem+json"
            # On a rate-limited endpoint Flask-Limiter raises it to the end of the limit's
            # window when that comes later.
            assert int(reply.headers["retry-after"]) >= RETRY_AFTER
            if name != "login":
                assert int(reply.headers["retry-after"]) == RETRY_AFTER
            assert reply.json()["request_id"] == request_id
            assert b"psycopg" not in reply.body
            assert str(postgres.port).encode() not in reply.body
        assert web.request("GET", "/livez").status == 200  # down is not dead: no restart

        postgres.start()

        assert web.request("GET", "/api/v1/books", headers=bearer).status == 200
        book = {"title": "Back", "author": "Ops"}
        assert web.request("POST", "/api/v1/books", json_body=book, headers=bearer).status == 201
        assert web.request("GET", "/readyz").status == 200

    # Each 503 was logged once, as an error naming the request and the driver's exception.
    for name in attempts:
        logged = [
            event
            for event in web.process.events()
            if ecs_field(event, "http.request.id") == f"db-down-{name}"
            and ecs_field(event, "log.level") == "error"
        ]
        assert len(logged) == 1, (name, logged)
        assert ecs_field(logged[0], "error.type").startswith("psycopg."), logged[0]
    assert not web.process.logged("Traceback")


# --- a rate-limit store of the test's own --------------------------------------------------


def redis_server_argv(port: int) -> list[str]:
    program = shutil.which("redis-server")
    if program is None:
        missing_service("redis-server is not installed")
    return [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def wrong_password(web: WebServer) -> int:
    body = {"email": "victim@example.com", "password": "not the password"}
    return web.request("POST", "/api/v1/auth/login", json_body=body).status


def test_login_limits_hold_per_process_while_the_rate_limit_store_is_down(
    processes: Processes, databases: Databases, fresh_redis: RedisNamespace
) -> None:
    store_port = free_port()
    store_url = f"redis://127.0.0.1:{store_port}/0"
    store = processes.start("redis", redis_server_argv(store_port), os.environ)
    wait_until("the rate-limit store answers", lambda: redis_answers(store_url), show=(store,))
    web = processes.web(
        environment(
            fresh_redis.env,
            production=True,
            DATABASE_URL=databases.create(),
            RATELIMIT_STORAGE_URI=store_url,
            WEB_CONCURRENCY=str(WORKERS),
        )
    )
    assert wrong_password(web) == 401  # counted in the store
    assert redis_keys(store_url), "the limit is not counted in the store"

    store.stop()

    # Each worker counts on its own now, so one of them refuses within limit x workers.
    statuses: list[int] = []
    while len(statuses) < AUTH_LIMIT * WORKERS + 1 and 429 not in statuses:
        statuses.append(wrong_password(web))
    assert 429 in statuses, statuses
    assert set(statuses) <= {401, 429}
    readiness = web.request("GET", "/readyz")
    assert readiness.status == 200  # still in rotation
    assert readiness.json() == {"status": "degraded", "checks": {"rate_limit_store": "unavailable"}}
    fallbacks = logged_by_worker(web, "falling back to in-memory storage")
    assert all(count == 1 for count in fallbacks.values()), fallbacks  # once, not per request
    assert not [e for e in web.process.events() if ecs_field(e, "log.level") == "error"]

    store = processes.start("redis-again", redis_server_argv(store_port), os.environ)
    wait_until("the rate-limit store answers", lambda: redis_answers(store_url), show=(store,))

    def every_worker_that_fell_back_recovered() -> bool:
        # A worker probes the store only on a limited request, with a growing backoff.
        wrong_password(web)
        return logged_by_worker(web, "storage recovered").keys() >= fallbacks.keys()

    wait_until(
        "every worker that fell back uses the store again",
        every_worker_that_fell_back_recovered,
        timeout=90,
        show=(web.process,),
    )
    assert redis_keys(store_url), "limits are not counted in the store again"
    assert web.request("GET", "/readyz").json() == {"status": "ok"}


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_keys(url: str) -> list[bytes]:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return list(client.scan_iter(count=100))
    finally:
        client.close()


def logged_by_worker(web: WebServer, text: str) -> dict[int, int]:
    """Worker pid -> how many of its log events contain ``text``."""
    counts: dict[int, int] = {}
    for event in web.process.events():
        if text in str(event.get("message", "")):
            pid = int(ecs_field(event, "process.pid"))
            counts[pid] = counts.get(pid, 0) + 1
    return counts
