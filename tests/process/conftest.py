"""Real processes, started as the Procfile starts them and configured only by their environment.

Each process gets an empty folder of its own as working directory and HOME, so no ``.env`` is
read and nothing is shared through the file system but what a test passes in its environment.
Its stdout and stderr go to files the test reads; it is stopped with a signal and a bounded
wait, and whatever a test leaves running is killed when the test ends, pass or fail.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import http.server
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app import create_app
from app.core import project
from app.core.extensions import db
from tests.conftest import (
    PASSWORD,
    STARTUP_SECONDS,
    RedisNamespace,
    free_port,
    make_settings,
    redis_namespace,
    throwaway_database,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent  # the interpreter running the tests, not resolved

# The Redis server of these tests (TEST_REDIS_SERVER's, default this machine's); each test or
# module keeps its keys under a prefix of its own in the suite's database (tests/conftest.py).
REDIS_SERVER = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379").rstrip("/")
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"

SECRET = "process-test-secret-0f6c1e2d9a8b7c6d5e4f3a2b1c0d"

READY_TIMEOUT = 30.0  # seconds for a web process to answer /livez
STOP_TIMEOUT = 20.0  # seconds for a process to exit after its stop signal
ONE_OFF_TIMEOUT = 60.0  # seconds for an admin process to finish
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.05


# --- what to run, and with which environment ---------------------------------------------


@cache
def procfile() -> dict[str, tuple[str, ...]]:
    """Process type -> argv, as the Procfile declares them."""
    entries: dict[str, tuple[str, ...]] = {}
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, colon, command = line.partition(":")
        if colon and name.strip() and not name.lstrip().startswith("#"):
            entries[name.strip()] = tuple(shlex.split(command))
    return entries


def command(process_type: str, *extra: str) -> list[str]:
    """The Procfile's command for ``process_type``, runnable from any working directory.

    The program comes from the test interpreter's environment and file arguments (such as
    gunicorn.conf.py) are resolved against the project root; ``extra`` arguments are appended
    (a repeated option overrides the Procfile's value).
    """
    program, *arguments = procfile()[process_type]
    resolved = [str(VENV_BIN / program) if (VENV_BIN / program).exists() else program]
    for argument in arguments:
        in_project = PROJECT_ROOT / argument
        is_file = not argument.startswith("-") and in_project.is_file()
        resolved.append(str(in_project) if is_file else argument)
    return [*resolved, *extra]


def flask_command(*arguments: str) -> list[str]:
    """A one-off admin process: ``flask --app app ARGUMENTS``."""
    return [str(VENV_BIN / "flask"), "--app", "app", *arguments]


def environment(
    *settings: Mapping[str, str], production: bool = False, **variables: str
) -> dict[str, str]:
    """The whole environment of a process (nothing from os.environ): a small base, then
    ``settings`` (such as a Redis namespace's ``env``) and ``variables``.

    Test processes log JSON and have rate limits off unless a test turns them on; production
    ones keep production's defaults.
    """
    env = {
        "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONPATH": str(PROJECT_ROOT),
        # As in the container image: each event reaches the file when it is written.
        "PYTHONUNBUFFERED": "1",
        "LANG": "C.UTF-8",
        "SECRET_KEY": SECRET,
        "JWT_SECRET_KEY": SECRET,
        "WEB_CONCURRENCY": "1",
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
    }
    if production:
        # Production requires somewhere for mail to go; nothing listens there, and these
        # tests send none.
        env.update(APP_ENV="production", SMTP_URL="smtp://127.0.0.1:1")
    else:
        env.update(APP_ENV="test", LOG_FORMAT="json", RATELIMIT_ENABLED="false")
    # Behind PgBouncer in transaction mode (make test-matrix) no process may prepare statements.
    if "DATABASE_PREPARED_STATEMENTS" in os.environ:
        env["DATABASE_PREPARED_STATEMENTS"] = os.environ["DATABASE_PREPARED_STATEMENTS"]
    for more in settings:
        env.update(more)
    env.update(variables)
    return env


# --- processes ---------------------------------------------------------------------------


@dataclass
class Process:
    """One started process: its output files, and signals with bounded waits."""

    name: str
    argv: list[str]
    workdir: Path
    popen: subprocess.Popen[bytes]
    spawned_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "stderr.log"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def lines(self) -> list[tuple[str, str]]:
        """Every line the process wrote, as (stream, line)."""
        return [("stdout", line) for line in self.stdout().splitlines()] + [
            ("stderr", line) for line in self.stderr().splitlines()
        ]

    def events(self) -> list[dict[str, Any]]:
        """The JSON objects among its stdout lines (its log events)."""
        found = []
        for line in self.stdout().splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    found.append(event)
        return found

    def logged(self, text: str) -> bool:
        return any(text in str(event.get("message", "")) for event in self.events())

    def running(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.running():
            os.kill(self.pid, sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Its exit status; fail (after killing it) if it is still running after ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} was still running after {timeout}s\n{self.tail()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        self.send(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the process and anything left in its process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(KILL_TIMEOUT)

    def children(self) -> list[int]:
        """Pids of its child processes (Linux)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def tail(self, count: int = 25) -> str:
        status = "running" if self.running() else f"exited {self.popen.returncode}"
        shown = "\n".join(f"  {stream}: {line}" for stream, line in self.lines()[-count:])
        return f"--- {self.name} ({status}), last lines:\n{shown}"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebServer:
    """A gunicorn master started with ``PORT=port`` on 127.0.0.1."""

    process: Process
    port: int
    ready_after: float | None = None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Poll /livez until it answers 200; return the seconds since the master was spawned."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running():
                pytest.fail(
                    f"{self.process.name} exited before it was ready\n{self.process.tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.request("GET", "/livez", timeout=2).status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.process.name} not ready after {timeout}s\n{self.process.tail()}"
                )
            time.sleep(POLL_INTERVAL)
        self.ready_after = time.monotonic() - self.process.spawned_at
        STARTUP_SECONDS.append((self.process.name, self.ready_after))
        return self.ready_after

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 15,
    ) -> Reply:
        sent_headers = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent_headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent_headers)
            response = connection.getresponse()
            return Reply(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=response.read(),
            )
        finally:
            connection.close()

    def sign_up(self, email: str, name: str = "Ada") -> None:
        accepted = self.request(
            "POST",
            "/api/v1/auth/signup",
            json_body={"email": email, "password": PASSWORD, "name": name},
        )
        assert accepted.status == 202, accepted.body

    def log_in(self, email: str, password: str = PASSWORD) -> Reply:
        return self.request(
            "POST", "/api/v1/auth/login", json_body={"email": email, "password": password}
        )

    def tokens(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        reply = self.log_in(email, password)
        assert reply.status == 200, reply.body
        return dict(reply.json())


class Processes:
    """Starts the processes of one test (or module) and makes sure none outlives it."""

    def __init__(self) -> None:
        self._started: list[Process] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Process:
        workdir = Path(tempfile.mkdtemp(prefix=f"proc-{name}-"))  # short: socket paths fit
        with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
            popen = subprocess.Popen(  # noqa: S603 - our own commands, no shell
                argv,
                cwd=workdir,
                # gunicorn puts its control socket under $HOME: one HOME per process keeps
                # two masters from replacing each other's socket.
                env={**env, "HOME": str(workdir)},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, so cleanup reaches its children
            )
        process = Process(name, argv, workdir, popen, time.monotonic())
        self._started.append(process)
        return process

    def run(
        self, name: str, argv: list[str], env: Mapping[str, str], timeout: float = ONE_OFF_TIMEOUT
    ) -> Process:
        """Run a one-off process to its end."""
        process = self.start(name, argv, env)
        process.wait(timeout)
        return process

    def start_web(self, env: Mapping[str, str], name: str = "web") -> WebServer:
        """Start the Procfile's web process on a free port; call ``wait_ready()`` on it."""
        port = free_port()
        process = self.start(name, command("web"), {**env, "HOST": "127.0.0.1", "PORT": str(port)})
        return WebServer(process, port)

    def web(self, env: Mapping[str, str], name: str = "web") -> WebServer:
        server = self.start_web(env, name)
        server.wait_ready()
        return server

    def close(self) -> None:
        for process in reversed(self._started):
            process.kill()
        for process in self._started:
            shutil.rmtree(process.workdir, ignore_errors=True)
        self._started.clear()


@pytest.fixture
def processes() -> Iterator[Processes]:
    group = Processes()
    try:
        yield group
    finally:
        group.close()


@pytest.fixture(scope="module")
def module_processes() -> Iterator[Processes]:
    group = Processes()
    try:
        yield group
    finally:
        group.close()


# --- waiting -----------------------------------------------------------------------------


def wait_until(
    what: str,
    condition: Callable[[], object],
    timeout: float = 20.0,
    show: tuple[Process, ...] = (),
    state: Callable[[], str] | None = None,
) -> None:
    """Poll ``condition`` until it is truthy; fail naming ``what`` if it is not.

    The failure shows the last lines of the ``show`` processes and, if given, ``state()``.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            details = [process.tail() for process in show]
            if state is not None:
                details.append(f"--- state: {state()}")
            pytest.fail(f"gave up after {timeout}s waiting until {what}\n" + "\n".join(details))
        time.sleep(POLL_INTERVAL)


# --- backing services --------------------------------------------------------------------


def missing_service(reason: str) -> NoReturn:
    """Skip with ``reason``; under CI=true a missing service fails the run instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true, so these tests may not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> str:
    client = redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        missing_service(f"Redis is not reachable at {REDIS_SERVER}: {error}")
    finally:
        client.close()
    return REDIS_SERVER


def redis_queue_state(namespace: RedisNamespace, queue: str = "celery") -> str:
    """What a Redis broker holds for ``queue``: waiting and unacknowledged messages."""
    client = redis.Redis.from_url(namespace.url, socket_connect_timeout=2, socket_timeout=2)
    prefix = namespace.key_prefix
    try:
        waiting = client.llen(prefix + queue)
        unacked = client.hlen(prefix + "unacked")
        keys = sorted(key.decode() for key in client.scan_iter(match=f"{prefix}*", count=100))
    except redis.RedisError as error:
        return f"Redis did not answer: {error}"
    finally:
        client.close()
    return f"{waiting} waiting in {queue!r}, {unacked} unacknowledged; keys: {keys}"


@pytest.fixture
def fresh_redis(redis_server: str) -> Iterator[RedisNamespace]:
    """A key prefix of this test's own, empty at its start and at its end."""
    with redis_namespace(redis_server) as namespace:
        yield namespace


@pytest.fixture(scope="module")
def module_redis(redis_server: str) -> Iterator[RedisNamespace]:
    """A key prefix of this module's own, empty at its start and at its end."""
    with redis_namespace(redis_server) as namespace:
        yield namespace


class Databases:
    """Fresh, migrated databases: SQLite files, or on the server named by TEST_DATABASE_URL."""

    def __init__(self) -> None:
        self._cleanup = contextlib.ExitStack()
        self._folder = Path(tempfile.mkdtemp(prefix="proc-db-"))

    def create(self, *, migrated: bool = True) -> str:
        server_url = os.environ.get("TEST_DATABASE_URL")
        if server_url:
            url = self._cleanup.enter_context(throwaway_database(server_url))
        else:
            url = f"sqlite:///{tempfile.mkdtemp(dir=self._folder)}/test.db"
        if migrated:
            app = create_app(make_settings(database_url=url))
            with app.app_context():
                upgrade()
                db.engine.dispose()
        return url

    def close(self) -> None:
        self._cleanup.close()
        shutil.rmtree(self._folder, ignore_errors=True)


@pytest.fixture
def databases() -> Iterator[Databases]:
    created = Databases()
    try:
        yield created
    finally:
        created.close()


@pytest.fixture(scope="module")
def module_databases() -> Iterator[Databases]:
    created = Databases()
    try:
        yield created
    finally:
        created.close()


@contextlib.contextmanager
def session(database_url: str) -> Iterator[Session]:
    """A plain SQLAlchemy session on ``database_url``, to arrange or check rows directly."""
    engine = create_engine(make_settings(database_url=database_url).database_url)
    try:
        with Session(engine) as opened:
            yield opened
    finally:
        engine.dispose()


# --- small readers -----------------------------------------------------------------------


def ecs_field(event: Mapping[str, Any], dotted: str) -> Any:
    """A field of an ECS event by its dotted name, whether written flat or nested."""
    if dotted in event:
        return event[dotted]
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the test only reads what the server put in)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def listen_queue_length(port: int) -> int | None:
    """Connections waiting to be accepted on 127.0.0.1:port, or None if nothing listens (Linux).

    For a listening socket, /proc/net/tcp's rx_queue is the length of its accept queue.
    """
    local = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] == "0A":  # 0A: LISTEN
            return int(fields[4].split(":")[1], 16)
    return None


def smtp_url(port: int) -> str:
    return urllib.parse.urlunsplit(("smtp", f"127.0.0.1:{port}", "", "", ""))


@dataclass
class NonJsonLine:
    process: str
    stream: str
    line: str

    def __str__(self) -> str:
        return f"{self.process} {self.stream}: {self.line!r}"


def non_ecs_lines(process: Process) -> list[NonJsonLine]:
    """Lines that are not an ECS JSON event of this service."""
    bad = []
    for stream, line in process.lines():
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not is_ecs_event(event):
            bad.append(NonJsonLine(process.name, stream, line))
    return bad


def is_ecs_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    service = event.get("service")
    return (
        all(key in event for key in ("@timestamp", "log.level", "message"))
        and isinstance(service, dict)
        and service.get("name") == project.SLUG
    )


# --- a stub HTTP endpoint that keeps what it receives ------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes  # decompressed


class RecordingEndpoint:
    """An HTTP server on loopback that answers every POST with 200 and keeps its body.

    It stands in for a collector (OTLP/HTTP) or an error-tracking ingest (Sentry).
    """

    def __init__(self, answer: bytes = b"") -> None:
        self.received: list[Received] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                headers = {name.lower(): value for name, value in self.headers.items()}
                endpoint.received.append(Received(self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:  # the test reads what arrived instead
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RecordingEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
