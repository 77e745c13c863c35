"""Fixtures: one migrated database and app per session; each test in a rolled-back transaction."""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import Celery
from celery.contrib.testing.worker import start_worker
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import _app_ctx_id
from kombu import Connection
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from app import create_app
from app.auth import service as auth_service
from app.core.extensions import SESSION_OPTIONS, db, limiter
from app.core.settings import Settings, normalize_database_url

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Set by `make test-matrix`: the suite then runs on these real backing services.
BACKING_SERVICES = ("TEST_DATABASE_URL", "TEST_CELERY_BROKER_URL", "TEST_REDIS_URL")
# The Redis database the suite keeps its keys in, each test or module under a prefix of its own.
REDIS_TEST_DB = 13


def make_settings(**overrides: Any) -> Settings:
    """Explicit test settings; the developer's own .env is never read."""
    values: dict[str, Any] = {
        "app_env": "test",
        "secret_key": TEST_SECRET,
        "jwt_secret_key": TEST_SECRET,
        "ratelimit_enabled": False,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the suite's own: a temp SQLite file, or a fresh database on the server
    named by TEST_DATABASE_URL, dropped at the end."""
    server_url = os.environ.get("TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    with throwaway_database(server_url) as url:
        yield url


class throwaway_database:  # noqa: N801 - used like contextlib's lower-case managers
    """Create a uniquely named database on a server and drop it afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server = make_url(normalize_database_url(server_url))
        self.name = f"pytest_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> str:
        if self.server.get_backend_name() == "sqlite":
            raise pytest.UsageError("TEST_DATABASE_URL is for server databases")
        self._admin("CREATE DATABASE {name}")
        url = self.server.set(database=self.name)
        if self.server.get_backend_name() != "postgresql":
            url = url.update_query_dict({"charset": "utf8mb4"})
        return url.render_as_string(hide_password=False)

    def __exit__(self, *_exc: object) -> None:
        force = " WITH (FORCE)" if self.server.get_backend_name() == "postgresql" else ""
        self._admin("DROP DATABASE IF EXISTS {name}" + force)

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement.format(name=self.name)))
        finally:
            engine.dispose()


@dataclass(frozen=True)
class Broker:
    """A broker namespace of a test's own: its URL and, on Redis, its key prefix."""

    url: str
    key_prefix: str = ""

    @property
    def settings(self) -> dict[str, str]:
        return {"celery_broker_url": self.url, "redis_key_prefix": self.key_prefix}

    def connection(self) -> Connection:
        return Connection(self.url, transport_options={"global_keyprefix": self.key_prefix})

    def send_task(self, name: str, **options: Any) -> str:
        """Send a task by name from a client that is not the app, as another service would."""
        client: Celery[Any] = Celery("tests", broker=self.url, set_as_current=False)
        if self.key_prefix:
            client.conf.broker_transport_options = {"global_keyprefix": self.key_prefix}
        try:
            return str(client.send_task(name, **options).id)
        finally:
            client.close()


@contextlib.contextmanager
def throwaway_broker(server_url: str) -> Iterator[Broker]:
    """A broker namespace of the caller's own: a RabbitMQ vhost created and deleted, or a key
    prefix in the suite's Redis database whose keys are deleted before and after, so tests
    (in this run, in its other workers or in another run) never touch messages not theirs."""
    parts = urlsplit(server_url)
    if parts.scheme in ("amqp", "pyamqp"):
        vhost = f"pytest_{uuid.uuid4().hex[:12]}"
        rabbitmqctl("add_vhost", vhost)
        try:
            rabbitmqctl("set_permissions", "-p", vhost, parts.username or "guest", ".*", ".*", ".*")
            yield Broker(urlunsplit(parts._replace(path=f"/{vhost}")))
        finally:
            rabbitmqctl("delete_vhost", vhost)
    elif parts.scheme in ("redis", "rediss"):
        with redis_namespace(server_url) as namespace:
            yield Broker(namespace.url, namespace.key_prefix)
    else:
        raise pytest.UsageError(f"unsupported broker scheme {parts.scheme!r}")


@dataclass(frozen=True)
class RedisNamespace:
    """Keys under a prefix of their own in the suite's Redis database."""

    url: str
    key_prefix: str

    @property
    def env(self) -> dict[str, str]:
        """A process's environment for this namespace as its broker."""
        return {"CELERY_BROKER_URL": self.url, "REDIS_KEY_PREFIX": self.key_prefix}

    @property
    def broker(self) -> Broker:
        return Broker(self.url, self.key_prefix)

    def clear(self) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=2)
        try:
            for key in client.scan_iter(match=f"{self.key_prefix}*", count=500):
                client.delete(key)
        finally:
            client.close()


@contextlib.contextmanager
def redis_namespace(server_url: str) -> Iterator[RedisNamespace]:
    """A fresh key prefix in database REDIS_TEST_DB of ``server_url``'s server, emptied
    before and after use."""
    parts = urlsplit(server_url)
    namespace = RedisNamespace(
        url=urlunsplit(parts._replace(path=f"/{REDIS_TEST_DB}")),
        key_prefix=f"pytest-{uuid.uuid4().hex[:12]}:",
    )
    namespace.clear()
    try:
        yield namespace
    finally:
        namespace.clear()


def rabbitmqctl(*args: str) -> None:
    """RabbitMQ's admin tool; RABBITMQCTL overrides it (e.g. `docker exec <id> rabbitmqctl`)."""
    command = [*shlex.split(os.environ.get("RABBITMQCTL", "rabbitmqctl")), "-q", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=60)  # noqa: S603


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url=database_url)


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def isolated_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test inside an outer transaction that is rolled back at its end.

    Sessions join it with savepoints, so a service's commit is real within the test and
    gone after it. Tests that build their own app or database opt out with the marker, and
    tests with a worker (the ``stack`` fixture) commit for real on a database of their own.
    """
    if "no_shared_db" in request.keywords or "stack" in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original_session = db.session
        # A plain Session: Flask-SQLAlchemy's own would pick the engine over this connection.
        in_test_transaction = sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", **SESSION_OPTIONS
        )

        shared_database = db.engine.url

        def session_for_current_app() -> Any:
            # Apps on the shared database join the transaction. An app on a database of its
            # own (a module's ``stack``) keeps its own sessions: its worker may run a task or
            # the outbox relay in a thread meanwhile, and must never use this connection.
            if db.engine.url == shared_database:
                return in_test_transaction()
            return original_session.session_factory()

        # (scoped_session takes any callable that makes a session; its stubs want a sessionmaker.)
        db.session = scoped_session(cast(Any, session_for_current_app), scopefunc=_app_ctx_id)
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
            db.session = original_session
            transaction.rollback()
            connection.close()


def app_with_limits(database_url: str, **settings: object) -> Iterator[Flask]:
    """An app with limits on, 3 a minute, its counters reset before and after."""
    app = create_app(
        make_settings(
            database_url=database_url, ratelimit_enabled=True, ratelimit_auth="3/minute", **settings
        )
    )
    limiter.reset()
    yield app
    limiter.reset()


@pytest.fixture
def rate_limit_store() -> Iterator[dict[str, str]]:
    """Settings that count rate limits in memory:// or, given TEST_REDIS_URL, under a Redis key
    prefix of this test's own, emptied before and after."""
    if not os.environ.get("TEST_REDIS_URL"):
        yield {"ratelimit_storage_uri": "memory://"}
        return
    with redis_namespace(os.environ["TEST_REDIS_URL"]) as namespace:
        yield {"ratelimit_storage_uri": namespace.url, "redis_key_prefix": namespace.key_prefix}


@pytest.fixture
def limited_app(database_url: str, rate_limit_store: dict[str, str]) -> Iterator[Flask]:
    """The app with tight limits on: 3 sign-in attempts per IP, 8 writes and 3 jobs per user,
    a minute, counted in ``rate_limit_store``, which starts empty."""
    yield from app_with_limits(
        database_url, ratelimit_writes="8/minute", ratelimit_jobs="3/minute", **rate_limit_store
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


PASSWORD = "correct horse battery staple"
_emails = itertools.count(1)


@dataclass
class Account:
    """A signed-up, signed-in user as a test sees it."""

    id: int
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


SignUp = Callable[..., Account]


@pytest.fixture
def sign_up(app: Flask, client: FlaskClient) -> SignUp:
    """Create an account through the API and sign it in: ``sign_up(admin=True)``."""

    def create(
        email: str | None = None, *, admin: bool = False, name: str = "Test User"
    ) -> Account:
        email = email or f"user{next(_emails)}@example.com"
        created = client.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
        )
        assert created.status_code == 202, created.json
        if admin:
            with app.app_context():
                auth_service.create_admin(email, None)
        tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.json
        assert tokens.json is not None
        access = tokens.json["access_token"]
        me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200, me.json
        assert me.json is not None
        return Account(
            id=me.json["id"],
            email=email,
            access_token=access,
            refresh_token=tokens.json["refresh_token"],
        )

    return create


@dataclass
class Mailbox:
    """A real SMTP server on loopback that keeps what it receives (and can refuse at first)."""

    url: str
    messages: list[EmailMessage]
    refuse_next: int = 0

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(url=f"smtp://127.0.0.1:{port}", messages=[])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: Mailbox) -> Mailbox:
    """The module's SMTP server, emptied for this test."""
    smtp_server.messages.clear()
    smtp_server.refuse_next = 0
    return smtp_server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll until ``condition()`` is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting after {timeout}s")
        time.sleep(0.05)


@dataclass
class Stack:
    """An app with committed data of its own, and a Celery worker running beside it."""

    app: Flask
    client: FlaskClient
    celery: Any


@pytest.fixture
def stack(module_stack: Stack) -> Stack:
    # The in-process worker runs a task by name on Celery's default app, and every
    # create_app() makes its own app the default; tests in between may have built others.
    module_stack.celery.set_default()
    return module_stack


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory, smtp_server: Mailbox) -> Iterator[Stack]:
    """Real commits, a real broker (memory:// unless TEST_CELERY_BROKER_URL), a real worker.

    Shared by a module's tests (a worker takes seconds to stop), which use distinct data.
    """
    server_url = os.environ.get("TEST_DATABASE_URL")
    with contextlib.ExitStack() as cleanup:
        if server_url:
            database = cleanup.enter_context(throwaway_database(server_url))
        else:
            database = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'stack.db'}"
        broker = Broker("memory://")
        if os.environ.get("TEST_CELERY_BROKER_URL"):
            broker = cleanup.enter_context(throwaway_broker(os.environ["TEST_CELERY_BROKER_URL"]))
        app = create_app(
            make_settings(
                database_url=database,
                **broker.settings,
                smtp_url=smtp_server.url,
                smtp_starttls=False,
                smtp_timeout=5,
            )
        )
        with app.app_context():
            upgrade()

        def dispose_engine() -> None:
            with app.app_context():
                db.engine.dispose()

        cleanup.callback(dispose_engine)
        celery = app.extensions["celery"]
        if broker.url == "memory://":
            # The in-memory transport polls its queues, once a second by default: each task
            # would wait for that, and the worker's stop too.
            celery.conf.broker_transport_options = {"polling_interval": 0.01}
        cleanup.enter_context(running_worker(celery))
        yield Stack(app=app, client=app.test_client(), celery=celery)


@contextlib.contextmanager
def running_worker(celery: Any) -> Iterator[Any]:
    """A Celery worker in a thread of this process, stopped warm (running tasks finish)."""
    # The threads pool, not the test worker's default solo one: with RabbitMQ, a solo worker
    # in a thread sometimes noticed a delivered message only at its event loop's next timer,
    # ten seconds later. (Worker processes, as deployed, start tasks within milliseconds.)
    name = f"tests-{uuid.uuid4().hex}@localhost"
    threads = start_worker(
        celery, pool="threads", perform_ping_check=False, shutdown_timeout=15, hostname=name
    )
    with threads as worker:
        yield worker
        # The worker looks for a stop only between its 2-second waits on the broker, and once
        # more after it: about 4 s per stop. A remote shutdown is a message, which ends the
        # wait at once.
        celery.control.shutdown(destination=[name])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On real backing services, leave out what only the embedded run needs to check.

    A test marked `embedded_only` checks what no database, broker or rate-limit store changes
    (the document, the layout, the proxy, the browser page); `make test` has run it.
    """
    if not any(os.environ.get(name) for name in BACKING_SERVICES):
        return
    left_out = [item for item in items if item.get_closest_marker("embedded_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("embedded_only")]


# (process name, seconds from spawn to the first 200 from /livez), shown after the run.
STARTUP_SECONDS: list[tuple[str, float]] = []
# Other measurements tests take (numbers to read, not to assert), shown after the run.
MEASUREMENTS: list[str] = []


# --- the startup times, shown after the run ----------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist, a worker hands its numbers to the controller, which shows them."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["measurements"] = MEASUREMENTS
        output["startup_seconds"] = STARTUP_SECONDS


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    output = getattr(node, "workeroutput", {})
    MEASUREMENTS.extend(output.get("measurements", []))
    STARTUP_SECONDS.extend(tuple(entry) for entry in output.get("startup_seconds", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASUREMENTS:
        terminalreporter.write_sep("-", "measured by the process tests")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
    if not STARTUP_SECONDS:
        return
    seconds = [value for _, value in STARTUP_SECONDS]
    terminalreporter.write_sep("-", "gunicorn start-to-ready (spawn to first 200 from /livez)")
    terminalreporter.write_line(
        f"{len(seconds)} starts: median {statistics.median(seconds):.2f}s, "
        f"min {min(seconds):.2f}s, max {max(seconds):.2f}s"
    )
