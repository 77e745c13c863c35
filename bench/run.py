"""Load benchmarks: the template against a bare Flask baseline and a raw WSGI ceiling.

    make bench        # or: uv run --frozen python bench/run.py [--duration 3 --rounds 4 ...]

One run, under five minutes on two cores:
1. creates a throwaway PostgreSQL database ``barah_bench_<random>``, migrates it with
   ``flask --app app db upgrade`` and seeds it (fixed seed): a reader with 1000 books and a
   writer that the create benchmark adds books to (so the reader's list stays at 1000);
2. starts three gunicorn servers with the same gunicorn settings and the same production
   environment: the template (``app.wsgi:app``), the bare baseline (``bench.baseline:app``)
   and the ceiling (``bench.ceiling:app``, replaying the template's recorded responses); the
   latter two with bench/gunicorn_bare.py, which holds the template's numbers but not its code;
3. checks that the baseline answers the benchmarked requests with the template's bytes;
4. runs wrk against each endpoint and server, interleaved (the order rotates every round),
   and reports the median over the rounds of requests/s, p50 and p99 latency;
5. reads the idle RSS of every worker, times start-to-ready (process start until /livez
   answers 200) over several starts, and profiles the list endpoint with pyinstrument;
6. drops the database, empties its Redis databases, prints the table and the targets, and
   writes everything to bench/results/<UTC time>/.

Traffic goes to 127.0.0.1 only; every wrk run and every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import importlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from argon2 import PasswordHasher
from sqlalchemy import MetaData, create_engine, insert, select, text
from sqlalchemy.engine import Engine, make_url

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"

PG_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# Redis database numbers this benchmark owns (the test suite owns 13 and 14), emptied before
# and after a run: the Celery broker (nothing is sent on these endpoints) and rate limits.
REDIS_BROKER_DB = 11
REDIS_RATELIMIT_DB = 12

SEED = 20261125
BOOK_COUNT = 1000
PASSWORD = "correct horse battery staple"
READER = "bench-reader@example.com"
WRITER = "bench-writer@example.com"
LOGIN_CLIENTS = 4  # the login target is stated at four concurrent clients

TARGETS = ("template", "bare", "ceiling")
# --variant DIR adds a fourth server: the template as checked out in DIR (a worktree with a
# change to try), run like the template and measured in the same interleaved rounds.
APP_URIS = {
    "template": None,
    "variant": None,
    "bare": "bench.baseline:app",
    "ceiling": "bench.ceiling:app",
}

# fmt: off
WORDS = (
    "river", "night", "garden", "silent", "empire", "glass", "winter", "machine", "paper",
    "ocean", "letters", "shadow", "north", "crown", "orchard", "iron", "meadow", "lantern",
)
# fmt: on

GOALS = {
    "ratio": 0.8,  # template/bare requests/s on list, item and create
    "ready_s": 0.6,
    "rss_mib": 60.0,
    "login_p99_ms": 250.0,
    "argon2": (19 * 1024, 2, 1),  # OWASP minimum for argon2id: m=19 MiB, t=2, p=1
}


# --- helpers -----------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def http_request(
    port: int,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    timeout: float = 10,
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    finally:
        connection.close()


def isbn13(number: int) -> str:
    digits = f"978{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout.strip() or "unknown"


# --- machine -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(int(total_kib.group(1)) / 1024 / 1024, 1) if total_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0],
        "load_average_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


# --- database, broker, environment ---------------------------------------------------------


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    server = make_url(PG_SERVER_URL).set(drivername="postgresql+psycopg")
    name = f"barah_bench_{secrets.token_hex(6)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            say(f"dropped database {name}")
    finally:
        admin.dispose()


def redis_url(number: int) -> str:
    return urlunsplit(urlsplit(REDIS_SERVER_URL)._replace(path=f"/{number}"))


@contextlib.contextmanager
def owned_redis_databases() -> Iterator[None]:
    clients = [redis.Redis.from_url(redis_url(n)) for n in (REDIS_BROKER_DB, REDIS_RATELIMIT_DB)]
    try:
        for client in clients:
            client.flushdb()
        yield
    finally:
        for client in clients:
            client.flushdb()
            client.close()


def app_settings() -> Any:
    sys.path.insert(0, str(ROOT))
    return importlib.import_module("app.core.settings")


def app_variables() -> set[str]:
    """Every variable the template reads, so none leaks in from the caller's environment."""
    settings = app_settings()
    classes = (settings.Settings, settings.ServerSettings)
    return {name.upper() for cls in classes for name in cls.model_fields}


def server_variables(env: dict[str, str]) -> dict[str, str]:
    """The template's gunicorn numbers (what gunicorn.conf.py would use), spelled out, so the
    baseline and the ceiling run with exactly the same ones (bench/gunicorn_bare.py)."""
    settings = app_settings()
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        server = settings.ServerSettings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {
        "WEB_CONCURRENCY": str(server.web_concurrency),
        "GUNICORN_THREADS": str(server.gunicorn_threads),
        "GUNICORN_TIMEOUT": str(server.gunicorn_timeout),
        "GUNICORN_GRACEFUL_TIMEOUT": str(server.gunicorn_graceful_timeout),
        "GUNICORN_KEEPALIVE": str(server.gunicorn_keepalive),
    }


def production_environment(database_url: str, options: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in app_variables()}
    # Let Python cache bytecode, as the image does at build time (UV_COMPILE_BYTECODE): the
    # migration below imports the whole app first, so every timed start finds it compiled.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(36),  # 48 characters
        JWT_SECRET_KEY=secrets.token_urlsafe(36),
        DATABASE_URL=database_url,
        # Production refuses to start without a broker. No benchmarked request sends a task
        # (signing up does, and the benchmark never signs up in its loop).
        CELERY_BROKER_URL=redis_url(REDIS_BROKER_DB),
        # Login stays rate-limited, as in production with several processes (Redis), with a
        # limit that the benchmark never reaches: the check's cost is measured, not a 429.
        RATELIMIT_STORAGE_URI=redis_url(REDIS_RATELIMIT_DB),
        RATELIMIT_AUTH="1000000 per minute",
        # Production logging: INFO, ECS JSON, one access event per request, written to a
        # file (bench/results/<run>/<server>.log), as a process writes into a log pipe.
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        APP_RELEASE=f"bench-{git_commit()}",
        HOST="127.0.0.1",
    )
    if options.workers:
        env["WEB_CONCURRENCY"] = str(options.workers)
    if options.threads:
        env["GUNICORN_THREADS"] = str(options.threads)
    env.update(server_variables(env))
    return env


def migrate(env: dict[str, str]) -> None:
    flask = Path(sys.executable).with_name("flask")
    command = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
    subprocess.run(
        [*command, "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class Seeded:
    reader_id: int
    writer_id: int
    book_ids: list[int]
    has_books: bool


def seed(engine: Engine) -> Seeded:
    """A reader with BOOK_COUNT books and a writer with none, from a fixed seed."""
    metadata = MetaData()
    metadata.reflect(engine)
    users = metadata.tables["users"]
    books = metadata.tables.get("books")
    rng = random.Random(SEED)
    password_hash = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(PASSWORD)
    start = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        ids = []
        for email in (READER, WRITER):
            ids.append(
                connection.execute(
                    insert(users)
                    .values(
                        email=email,
                        name=email.split("@")[0],
                        password_hash=password_hash,
                        role="user",
                        is_active=True,
                        created_at=start,
                        updated_at=start,
                    )
                    .returning(users.c.id)
                ).scalar_one()
            )
        if books is None:
            return Seeded(ids[0], ids[1], [], has_books=False)
        authors = [
            f"{first} {last}"
            for first in ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances")
            for last in ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen")
        ]
        rows = []
        for index in range(BOOK_COUNT):
            moment = start + timedelta(minutes=index)
            description = None
            if rng.random() < 0.8:
                description = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
            rows.append(
                {
                    "owner_id": ids[0],
                    "title": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5))).title(),
                    "author": rng.choice(authors),
                    "isbn": isbn13(100_000_000 + index) if rng.random() < 0.9 else None,
                    "published_year": rng.randint(1800, 2025) if rng.random() < 0.9 else None,
                    "description": description,
                    "created_at": moment,
                    "updated_at": moment,
                }
            )
        connection.execute(insert(books), rows)
        book_ids = list(
            connection.scalars(select(books.c.id).where(books.c.owner_id == ids[0])).all()
        )
    return Seeded(ids[0], ids[1], sorted(book_ids), has_books=True)


def stored_password_hash(engine: Engine, email: str) -> str:
    with engine.connect() as connection:
        return str(
            connection.scalar(
                text("SELECT password_hash FROM users WHERE email = :e"), {"e": email}
            )
        )


def postgres_version(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.scalar(text("SHOW server_version")))


# --- servers -----------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    log: Any = None

    @property
    def command(self) -> list[str]:
        uri = APP_URIS[self.name]
        if uri is None:  # the template, exactly as its Procfile runs it
            return [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"]
        return [sys.executable, "-m", "gunicorn", "--config", "bench/gunicorn_bare.py", uri]

    def start(self) -> float:
        """Start gunicorn; return the seconds until /livez answered 200."""
        self.log = self.log_path.open("ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env={**self.env, "PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = started + 30
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"{self.name} exited with {self.process.returncode}: {self.log_path}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_request(self.port, "GET", "/livez", timeout=1)[0] == 200:
                    return time.perf_counter() - started
            time.sleep(0.005)
        self.stop()
        raise SystemExit(f"{self.name} did not answer /livez within 30 s: {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def workers(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            return [int(child) for child in children.read_text().split()]
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(stat.parent.name))
        return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS and its parts from /proc/<pid>/status, and PSS from smaps_rollup, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            values[name] = int(rest.split()[0]) / 1024
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                values["Pss"] = int(line.split()[1]) / 1024
    return values


# --- endpoints and wrk -------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    script: str
    args: list[str]
    connections: int
    body: dict[str, Any] | None = None
    token: str | None = None
    isbn_block: bool = False


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: dict[str, int]
    # CPU the server's workers spent per request: unlike req/s and latency, barely moved by
    # other processes competing for the machine's cores.
    cpu_ms: float


@dataclass
class Runs:
    measurements: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    isbn_blocks: int = 0

    def next_isbn_block(self) -> int:
        self.isbn_blocks += 1
        return 10_000_000 * self.isbn_blocks  # 10 million numbers per wrk run


def wrk(endpoint: Endpoint, server: Server, duration: int, threads: int, runs: Runs) -> Measurement:
    args = list(endpoint.args)
    if endpoint.isbn_block:
        args.append(str(runs.next_isbn_block()))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{endpoint.connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        endpoint.script,
        f"http://127.0.0.1:{server.port}{endpoint.path}",
        "--",
        *args,
    ]
    workers = server.workers()
    cpu_before = cpu_seconds(workers)
    result = subprocess.run(
        command, cwd=BENCH, capture_output=True, text=True, timeout=duration + 30
    )
    cpu_used = cpu_seconds(workers) - cpu_before
    line = next((x for x in result.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise SystemExit(
            f"wrk failed for {server.name} {endpoint.name}:\n{result.stdout}\n{result.stderr}"
        )
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    return Measurement(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
        requests=data["requests"],
        errors={k: v for k, v in data["errors"].items() if v},
        cpu_ms=1000 * cpu_used / max(data["requests"], 1),
    )


# --- responses: record the template's, compare the baseline's -----------------------------

SKIPPED_HEADERS = {"date", "server", "connection", "content-length", "transfer-encoding"}
# Set per request by the template only (request id, rate-limit window): not part of the body.
VARYING_HEADERS = {"x-request-id", "retry-after"} | {
    f"x-ratelimit-{x}" for x in ("limit", "remaining", "reset", "retry-after")
}


def recorded(response: tuple[int, str, list[tuple[str, str]], bytes]) -> dict[str, Any]:
    status, reason, headers, body = response
    return {
        "status": f"{status} {reason}",
        "headers": [(k, v) for k, v in headers if k.lower() not in SKIPPED_HEADERS],
        "body": base64.b64encode(body).decode(),
    }


def jwt_shape(token: str) -> dict[str, Any]:
    header, payload, _signature = token.split(".")

    def decode(part: str) -> dict[str, Any]:
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))

    claims = decode(payload)
    return {
        "header": decode(header),
        "claims": sorted(claims),
        "type": claims.get("type"),
        "sub": claims.get("sub"),
        "role": claims.get("role"),
        "fresh": claims.get("fresh"),
        "lifetime": claims["exp"] - claims["iat"],
    }


def comparable(endpoint: str, response: dict[str, Any]) -> Any:
    """What must be equal between template and baseline: everything but per-request values."""
    headers = {k.lower(): v for k, v in response["headers"] if k.lower() not in VARYING_HEADERS}
    if "link" in headers:  # the servers listen on different ports
        headers["link"] = re.sub(r"//127\.0\.0\.1:\d+/", "//127.0.0.1/", headers["link"])
    body = base64.b64decode(response["body"])
    if endpoint in ("list", "item"):
        return response["status"], headers, body.decode()
    document = json.loads(body)
    if endpoint == "create":
        headers["location"] = re.sub(r"/\d+$", "/<id>", headers.get("location", ""))
        for key in ("id", "created_at", "updated_at", "isbn"):
            document[key] = type(document.get(key)).__name__
        return response["status"], headers, document
    for key in ("access_token", "refresh_token"):
        document[key] = jwt_shape(document[key])
    return response["status"], headers, document


# --- the run -----------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description="Barah load benchmarks (see bench/README.md).")
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1, help="seconds per warm-up run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--starts", type=int, default=5, help="starts timed for start-to-ready")
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (default: the template's)")
    parser.add_argument("--threads", type=int, help="GUNICORN_THREADS (default: the template's)")
    parser.add_argument("--only", nargs="*", help="endpoints to run (list item create login)")
    parser.add_argument("--skip-profile", action="store_true")
    parser.add_argument(
        "--variant",
        type=Path,
        help="a checkout of the template with a change to compare (e.g. a git worktree)",
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench needs wrk: apt-get install wrk (make bench installs it as root)")
    if (ROOT / ".env").exists():
        say("note: .env exists; variables the benchmark does not set may come from it")

    begun = time.perf_counter()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / stamp
    out.mkdir(parents=True)
    results: dict[str, Any] = {"started": stamp, "commit": git_commit(), "machine": machine()}
    results["settings"] = {
        k: v for k, v in vars(options).items() if k not in ("only", "skip_profile", "variant")
    }
    results["targets"] = list(targets_of(options))
    if options.variant:
        results["variant"] = str(options.variant.resolve())

    with owned_redis_databases(), throwaway_database() as database_url:
        engine = create_engine(database_url)
        try:
            results["machine"]["postgresql"] = postgres_version(engine)
            env = production_environment(database_url, options)
            say("migrating with flask --app app db upgrade")
            migrate(env)
            seeded = seed(engine)
            say(f"seeded {len(seeded.book_ids)} books for {READER}")
            run_servers(results, out, env, seeded, options, engine)
        finally:
            engine.dispose()

    results["elapsed_s"] = round(time.perf_counter() - begun, 1)
    results["machine"]["load_average_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = report(results)
    (out / "table.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nraw results: {out.relative_to(ROOT)}/  ({results['elapsed_s']} s)")


def run_servers(
    results: dict[str, Any],
    out: Path,
    env: dict[str, str],
    seeded: Seeded,
    options: argparse.Namespace,
    engine: Engine,
) -> None:
    targets = targets_of(options)
    servers = {name: Server(name, free_port(), out / f"{name}.log", env) for name in targets}
    ceiling_file = out / "ceiling-responses.json"
    servers["ceiling"].env = {**env, "BENCH_CEILING_RESPONSES": str(ceiling_file)}
    if options.variant:
        servers["variant"].cwd = options.variant.resolve()
    try:
        for name in targets:
            if name != "ceiling":
                servers[name].start()
        template = servers["template"].port

        tokens = {}
        for email in (READER, WRITER):
            status, _, _, body = http_request(
                template, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD}
            )
            if status != 200:
                raise SystemExit(f"login as {email} failed: {status} {body[:300]!r}")
            tokens[email] = json.loads(body)["access_token"]

        endpoints = build_endpoints(seeded, tokens, options)
        probe = http_request(template, "GET", "/api/v1/books?page_size=1", token=tokens[READER])
        if probe[0] in (404, 405):
            say("the template has no /api/v1/books yet: benchmarking login only")
            endpoints = [e for e in endpoints if e.name == "login"]
            results["books"] = "absent"
        if options.only:
            endpoints = [e for e in endpoints if e.name in options.only]

        record, parity = {}, {}
        for number, endpoint in enumerate(endpoints):
            answers = {}
            for name in (t for t in targets if t != "ceiling"):
                port = servers[name].port
                body = endpoint.body
                if endpoint.isbn_block:  # a fresh ISBN per recorded request
                    body = {**(body or {}), "isbn": isbn13(999_000_000 + 2 * number + len(answers))}
                answers[name] = recorded(
                    http_request(port, endpoint.method, endpoint.path, body, endpoint.token)
                )
            record[f"{endpoint.method} {urlsplit(endpoint.path).path}"] = answers["template"]
            same = all(
                comparable(endpoint.name, answers["template"]) == comparable(endpoint.name, answer)
                for answer in answers.values()
            )
            parity[endpoint.name] = "identical" if same else "DIFFERENT"
            if not same:
                (out / f"parity-{endpoint.name}.json").write_text(
                    json.dumps(
                        {k: comparable(endpoint.name, v) for k, v in answers.items()},
                        indent=2,
                        default=str,
                    )
                )
                say(f"WARNING: a {endpoint.name} response differs from the template's")
        results["parity"] = parity
        say(f"baseline vs template responses: {parity}")
        ceiling_file.write_text(json.dumps(record))
        servers["ceiling"].start()

        runs = Runs()
        say("warming up")
        for endpoint in endpoints:
            for name in targets:
                wrk(endpoint, servers[name], options.warmup, options.wrk_threads, runs)
        for round_number in range(options.rounds):
            for index, endpoint in enumerate(endpoints):
                shift = (round_number + index) % len(targets)
                for name in targets[shift:] + targets[:shift]:
                    measured = wrk(
                        endpoint, servers[name], options.duration, options.wrk_threads, runs
                    )
                    runs.measurements.setdefault((endpoint.name, name), []).append(measured)
                    say(
                        f"round {round_number + 1} {endpoint.name:6} {name:8} "
                        f"{measured.rps:8.0f} req/s  p50 {measured.p50_ms:6.2f} ms  "
                        f"p99 {measured.p99_ms:6.2f} ms  cpu {measured.cpu_ms:5.2f} ms/req"
                        + (f"  errors {measured.errors}" if measured.errors else "")
                    )
        results["endpoints"] = summarize(runs, endpoints, targets)
        results["argon2"] = argon2_parameters(stored_password_hash(engine, READER))

        time.sleep(2)  # let the workers settle after the last run
        results["idle_rss"] = {}
        for name in targets:
            workers = servers[name].workers()
            memory = [memory_of(pid) for pid in workers]
            results["idle_rss"][name] = {
                "workers": len(workers),
                "per_worker": memory,
                "median_rss_mib": round(median([m["VmRSS"] for m in memory]), 1),
                "max_rss_mib": round(max(m["VmRSS"] for m in memory), 1),
                "median_pss_mib": round(median([m.get("Pss", 0.0) for m in memory]), 1),
                "median_anon_mib": round(median([m["RssAnon"] for m in memory]), 1),
            }
        threads = int(env["GUNICORN_THREADS"])
        results["gunicorn"] = {
            "workers": results["idle_rss"]["template"]["workers"],
            "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            "keepalive_s": int(env["GUNICORN_KEEPALIVE"]),
        }
    finally:
        for server in servers.values():
            server.stop()

    say(f"timing start-to-ready over {options.starts} starts each")
    ready: dict[str, list[float]] = {name: [] for name in targets if name != "ceiling"}
    for _ in range(options.starts):
        for name in ready:
            server = servers[name]
            try:
                ready[name].append(server.start())
            finally:
                server.stop()
    results["start_to_ready_s"] = {
        name: {
            "median": round(median(times), 3),
            "min": round(min(times), 3),
            "all": [round(t, 3) for t in times],
        }
        for name, times in ready.items()
        if times
    }

    if not options.skip_profile and results.get("books") != "absent":
        say("profiling GET /api/v1/books?page_size=100 in-process with pyinstrument")
        with (out / "profile.log").open("wb") as log:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.profile_app",
                    "--path",
                    "/api/v1/books",
                    "--query",
                    "page_size=100",
                    "--token",
                    tokens[READER],
                    "--out",
                    str(out),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )
        results["profile"] = json.loads((out / "profile.json").read_text())
    for log_file in out.glob("*.log"):
        trim_log(log_file)


def build_endpoints(
    seeded: Seeded, tokens: dict[str, str], options: argparse.Namespace
) -> list[Endpoint]:
    item = seeded.book_ids[len(seeded.book_ids) // 2] if seeded.book_ids else 1
    reader, writer = tokens[READER], tokens[WRITER]
    book = {
        "title": "Sketch of the Analytical Engine",
        "author": "Ada Lovelace",
        "published_year": 1843,
        "description": "Notes on the Analytical Engine.",
    }
    return [
        Endpoint(
            "list", "GET", "/api/v1/books?page_size=100", "get.lua", [reader],
            options.connections, token=reader,
        ),
        Endpoint(
            "item", "GET", f"/api/v1/books/{item}", "get.lua", [reader],
            options.connections, token=reader,
        ),
        Endpoint(
            "create", "POST", "/api/v1/books", "create_book.lua", [writer],
            options.connections, body=book, token=writer, isbn_block=True,
        ),
        Endpoint(
            "login", "POST", "/api/v1/auth/login", "login.lua", [READER, PASSWORD],
            LOGIN_CLIENTS, body={"email": READER, "password": PASSWORD},
        ),
    ]  # fmt: skip


def targets_of(options: argparse.Namespace) -> tuple[str, ...]:
    return ("template", "variant", "bare", "ceiling") if options.variant else TARGETS


def summarize(runs: Runs, endpoints: list[Endpoint], targets: tuple[str, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for endpoint in endpoints:
        per_target = {}
        for name in targets:
            measured = runs.measurements[(endpoint.name, name)]
            per_target[name] = {
                "rps": round(median([m.rps for m in measured]), 1),
                "p50_ms": round(median([m.p50_ms for m in measured]), 2),
                "p99_ms": round(median([m.p99_ms for m in measured]), 2),
                "cpu_ms": round(median([m.cpu_ms for m in measured]), 3),
                "rounds": [vars(m) for m in measured],
            }
        template, bare = per_target["template"], per_target["bare"]
        summary[endpoint.name] = {
            "request": f"{endpoint.method} {endpoint.path}",
            "connections": endpoint.connections,
            **per_target,
            "ratio_rps": round(template["rps"] / bare["rps"], 3),
            "ratio_p50": round(template["p50_ms"] / bare["p50_ms"], 3),
            "ratio_p99": round(template["p99_ms"] / bare["p99_ms"], 3),
            "ratio_cpu": round(template["cpu_ms"] / bare["cpu_ms"], 3),
        }
        if "variant" in per_target:
            variant = per_target["variant"]
            summary[endpoint.name]["variant_ratio_rps"] = round(variant["rps"] / bare["rps"], 3)
            summary[endpoint.name]["variant_ratio_cpu"] = round(
                variant["cpu_ms"] / bare["cpu_ms"], 3
            )
    return summary


def argon2_parameters(password_hash: str) -> dict[str, Any]:
    """The parameters of the hash the template keeps after logins (it re-hashes on change)."""
    found = re.match(r"\$(argon2\w+)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", password_hash)
    if not found:
        return {"hash": password_hash[:30]}
    variant, m, t, p = found.groups()
    return {"variant": variant, "m_kib": int(m), "t": int(t), "p": int(p)}


def trim_log(path: Path, keep: int = 200) -> None:
    """Server logs grow by one access event per request: keep the head and a count."""
    size = path.stat().st_size
    if size < 1_000_000:
        return
    with path.open("rb") as file:
        lines = sum(1 for _ in file)
    with path.open("rb") as file:
        head = [next(file) for _ in range(keep)]
    path.write_bytes(b"".join(head) + f"... ({lines} lines, {size} bytes in all)\n".encode())


# --- the report --------------------------------------------------------------------------


def verdict(met: bool, detail: str) -> str:
    return f"{'MET   ' if met else 'MISSED'} {detail}"


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    gunicorn = results.get("gunicorn", {})
    s = results["settings"]
    lines = [
        f"Barah bench @ {results['commit']}, {results['started']}: {m['cpu']}, {m['cores']} "
        f"cores, {m['ram_gib']} GiB RAM, Python {m['python']}, PostgreSQL {m['postgresql']}, "
        f"{m['wrk']}",
        f"gunicorn: {gunicorn.get('workers')} {gunicorn.get('worker_class')} workers x "
        f"{gunicorn.get('threads')} thread(s); wrk {s['wrk_threads']} thread, "
        f"{s['connections']} connections (login: {LOGIN_CLIENTS}), {s['duration']:g} s per run, "
        f"medians of {s['rounds']} interleaved rounds; load average at start "
        f"{' '.join(m['load_average_at_start'])}, at end {' '.join(m['load_average_at_end'])}",
        "",
        "| endpoint | server | req/s | p50 ms | p99 ms | worker CPU ms/req |",
        "|---|---|---:|---:|---:|---:|",
    ]
    endpoints = results.get("endpoints", {})
    targets = results["targets"]
    for data in endpoints.values():
        for target in targets:
            row = data[target]
            label = f"`{data['request']}`" if target == "template" else ""
            lines.append(
                f"| {label} | {target} | {row['rps']:.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['cpu_ms']:.2f} |"
            )
        lines.append(
            f"| | **template/bare** | **{data['ratio_rps']:.2f}x** | {data['ratio_p50']:.2f}x | "
            f"{data['ratio_p99']:.2f}x | {data['ratio_cpu']:.2f}x |"
        )
        if "variant_ratio_rps" in data:
            lines.append(
                f"| | **variant/bare** | **{data['variant_ratio_rps']:.2f}x** | | | "
                f"{data['variant_ratio_cpu']:.2f}x |"
            )
    ready = results["start_to_ready_s"]
    rss = results["idle_rss"]
    lines += [
        "",
        "| process | start-to-ready: median (min) | idle RSS per worker: median / max "
        "| PSS median | anon median |",
        "|---|---:|---:|---:|---:|",
    ]
    for target in targets:
        r = rss[target]
        start = "-"
        if target in ready:
            start = f"{ready[target]['median']:.3f} s ({ready[target]['min']:.3f} s)"
        lines.append(
            f"| {target} | {start} | {r['median_rss_mib']:.1f} / {r['max_rss_mib']:.1f} MiB | "
            f"{r['median_pss_mib']:.1f} MiB | {r['median_anon_mib']:.1f} MiB |"
        )
    lines += ["", f"baseline responses vs the template's: {results['parity']}", "", "Targets:"]
    for name in ("list", "item", "create"):
        if name in endpoints:
            ratio = endpoints[name]["ratio_rps"]
            gap = f" (short by {GOALS['ratio'] - ratio:.2f})" if ratio < GOALS["ratio"] else ""
            lines.append(
                "  "
                + verdict(
                    ratio >= GOALS["ratio"],
                    f"{name}: template/bare req/s {ratio:.2f}x >= {GOALS['ratio']}x{gap}",
                )
            )
    if "template" in ready:
        template_ready = ready["template"]["median"]
        over = template_ready - GOALS["ready_s"]
        lines.append(
            "  "
            + verdict(
                over <= 0,
                f"start-to-ready {template_ready:.3f} s <= {GOALS['ready_s']} s"
                + (f" (over by {over:.3f} s)" if over > 0 else ""),
            )
        )
    worst = rss["template"]["max_rss_mib"]
    lines.append(
        "  "
        + verdict(
            worst <= GOALS["rss_mib"],
            f"idle RSS per worker {worst:.1f} MiB (max) <= {GOALS['rss_mib']:.0f} MiB"
            + (
                f" (over by {worst - GOALS['rss_mib']:.1f} MiB)" if worst > GOALS["rss_mib"] else ""
            ),
        )
    )
    if "login" in endpoints:
        argon2 = results["argon2"]
        params = (argon2.get("m_kib"), argon2.get("t"), argon2.get("p"))
        p99 = endpoints["login"]["template"]["p99_ms"]
        lines.append(
            "  "
            + verdict(
                argon2.get("variant") == "argon2id" and params == GOALS["argon2"],
                f"login hashes with {argon2.get('variant')} m={params[0]} KiB t={params[1]} "
                f"p={params[2]} (OWASP minimum: argon2id m=19456 t=2 p=1)",
            )
        )
        lines.append(
            "  "
            + verdict(
                p99 < GOALS["login_p99_ms"],
                f"login p99 {p99:.1f} ms < {GOALS['login_p99_ms']:.0f} ms at {LOGIN_CLIENTS} "
                "clients",
            )
        )
    profile = results.get("profile")
    if profile:
        lines += [
            "",
            f"Profile of {profile['request']} in-process: "
            f"{profile['unprofiled_ms_per_request']['median']:.2f} ms per request unprofiled; "
            "where the time goes:",
        ]
        for layer, share in profile["layers"].items():
            lines.append(f"  {share['percent']:5.1f}%  {share['ms_per_request']:6.3f} ms  {layer}")
        lines.append("  self time by package:")
        for package, share in list(profile["self_time_by_package"].items())[:8]:
            lines.append(
                f"  {share['percent']:5.1f}%  {share['ms_per_request']:6.3f} ms  {package}"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
