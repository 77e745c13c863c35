"""The load benchmark: the template against a bare Flask baseline, side by side.

    make bench                                        # the full run, a few minutes
    make bench BENCH_ARGS="--smoke"                   # one short round (CI): fails only on errors
    make bench BENCH_ARGS="--variant-env GUNICORN_THREADS=4"   # try a setting in the same rounds
    make bench BENCH_ARGS="--variant ../other-checkout"        # try a change in the same rounds

It creates a throwaway PostgreSQL database, migrates and seeds it, starts the template (the
Procfile's web command) and bench/baseline.py under gunicorn with the same worker settings,
then runs wrk against each endpoint in interleaved rounds (the order rotates, so no server
always goes first), reading the servers' CPU time around every run. Then it times
start-to-ready and reads memory. Numbers are reported, never judged by the exit status: only
errors (a failed request, a server that does not start) fail it. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
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
from layers import isbn13, layer_table
from sqlalchemy import MetaData, create_engine, insert, text

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_DB, RATELIMIT_DB = 11, 12  # the benchmark's Redis databases, emptied before and after
BOOK_COUNT = 1000
PASSWORD = "correct horse battery staple"
READER, WRITER = "bench-reader@example.com", "bench-writer@example.com"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Targets from the performance issues: req/s against the ORM baseline, per endpoint, and memory.
# CPU per request and start-to-ready against bare are reported as information (their old
# targets, 1.25x and 1.2x, are retired). The FastAPI peer is not run here (it is not on PyPI):
# bench/three_way.py runs all three in the same rounds.
RPS_TARGETS = {"list": 0.75, "item": 0.8, "create": 1.0}
PSS_TARGET_MIB = 60.0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(port: int, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, json.dumps(body) if body else None, headers)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None
    finally:
        connection.close()


def commit_of(path: Path) -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True
    )
    return found.stdout.strip() or "unknown"


# --- database and environment ----------------------------------------------------------------


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    server = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def redis_url(number: int) -> str:
    return urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{number}"))


@contextlib.contextmanager
def owned_redis_databases() -> Iterator[None]:
    clients = [redis.Redis.from_url(redis_url(n)) for n in (BROKER_DB, RATELIMIT_DB)]
    for client in clients:
        client.flushdb()
    try:
        yield
    finally:
        for client in clients:
            client.flushdb()
            client.close()


def environment(database_url: str, options: argparse.Namespace) -> dict[str, str]:
    """Production settings; the caller's own variables do not leak in."""
    sys.path.insert(0, str(ROOT))
    from app.core.settings import ServerSettings, Settings

    ours = {name.upper() for cls in (Settings, ServerSettings) for name in cls.model_fields}
    env = {name: value for name, value in os.environ.items() if name not in ours}
    env.update(
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(36),
        JWT_SECRET_KEY=secrets.token_urlsafe(36),
        DATABASE_URL=database_url,
        # Production needs a broker and a mail server; no benchmarked request sends either.
        CELERY_BROKER_URL=redis_url(BROKER_DB),
        SMTP_URL="smtp://127.0.0.1:2525",
        # Rate limits stay on, shared in Redis as in production, at a limit never reached.
        RATELIMIT_STORAGE_URI=redis_url(RATELIMIT_DB),
        RATELIMIT_AUTH="1000000 per minute",
        RATELIMIT_WRITES="1000000 per minute",
        LOG_LEVEL="INFO",
        LOG_FORMAT="json",
        APP_RELEASE="bench",
        HOST="127.0.0.1",
        WEB_CONCURRENCY=str(options.workers),
        GUNICORN_THREADS=str(options.threads),
        GUNICORN_KEEPALIVE=str(options.keepalive),
    )
    return env


def seed(database_url: str, env: dict[str, str]) -> list[int]:
    """Migrate, then a reader with BOOK_COUNT books and a writer with none (fixed seed)."""
    migrated = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if migrated.returncode:
        raise SystemExit(f"flask db upgrade failed:\n{migrated.stdout}{migrated.stderr}")
    engine = create_engine(database_url)
    metadata = MetaData()
    metadata.reflect(engine, only=["users", "books"])
    users, books = metadata.tables["users"], metadata.tables["books"]
    rng = random.Random(20261125)
    words = ("river", "night", "garden", "silent", "empire", "glass", "winter", "paper", "ocean")
    start = datetime(2026, 1, 1)  # noqa: DTZ001 - stored as naive UTC, as the app does
    password_hash = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(PASSWORD)
    with engine.begin() as connection:
        reader, _writer = (
            connection.execute(
                insert(users).returning(users.c.id),
                {"email": email, "name": email.split("@")[0], "password_hash": password_hash,
                 "role": "user", "is_active": True, "created_at": start, "updated_at": start},
            ).scalar_one()
            for email in (READER, WRITER)
        )  # fmt: skip
        rows = [
            {
                "owner_id": reader,
                "title": " ".join(rng.choices(words, k=rng.randint(1, 5))).title(),
                "author": rng.choice(["Ada Lovelace", "Alan Turing", "Grace Hopper"]),
                "isbn": isbn13(100_000_000 + n) if rng.random() < 0.9 else None,
                "published_year": rng.randint(1800, 2025) if rng.random() < 0.9 else None,
                "description": " ".join(rng.choices(words, k=rng.randint(5, 40)))
                if rng.random() < 0.8
                else None,
                "created_at": start + timedelta(minutes=n),
                "updated_at": start + timedelta(minutes=n),
            }
            for n in range(BOOK_COUNT)
        ]
        ids = connection.execute(insert(books).returning(books.c.id), rows).scalars().all()
    engine.dispose()
    return sorted(ids)


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    ready_path: str = "/livez"

    def start(self) -> float:
        """Start; return the seconds until /livez answers 200."""
        started = time.perf_counter()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env={**self.env, "PORT": str(self.port)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        while time.perf_counter() - started < 60:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.process.returncode}): {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if call(self.port, "GET", self.ready_path)[0] == 200:
                    return time.perf_counter() - started
            time.sleep(0.005)
        self.stop()
        raise SystemExit(
            f"{self.name} did not answer {self.ready_path} within 60 s: {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def pids(self) -> list[int]:
        """The master and its workers."""
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *map(int, children)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


def memory_mib(pid: int) -> tuple[float, float]:
    """RSS and PSS (the process's fair share of pages it shares with others)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) / 1024
    return values["Rss"], values["Pss"]


# --- load --------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    path: str
    script: str
    token: str
    creates: bool = False


def wrk(endpoint: Endpoint, server: Server, seconds: float, connections: int, block: int) -> dict:
    args = [endpoint.token, str(block)] if endpoint.creates else [endpoint.token]
    pids = server.pids()
    cpu_before = cpu_seconds(pids)
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s",
         endpoint.script, f"http://127.0.0.1:{server.port}{endpoint.path}", "--", *args],
        cwd=BENCH, capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    cpu = cpu_seconds(pids) - cpu_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"wrk failed on {server.name} {endpoint.name}: {done.stdout}{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    requests = max(data["requests"], 1)
    return {
        "rps": requests / (data["duration_us"] / 1e6),
        "p50_ms": data["latency_us"]["p50"] / 1000,
        "p99_ms": data["latency_us"]["p99"] / 1000,
        "cpu_ms": 1000 * cpu / requests,
        "errors": sum(data["errors"].values()),
    }


def same_answers(servers: list[Server], endpoints: list[Endpoint], book: dict) -> dict[str, bool]:
    """Whether every server answers each endpoint with the template's JSON (ids and times
    of a created book aside), so that the baseline does the same work."""
    verdicts = {}
    for number, endpoint in enumerate(endpoints):
        answers = []
        for server in servers:
            body = {**book, "isbn": isbn13(990_000_000 + 10 * number + len(answers))}
            status, data = call(
                server.port, "POST" if endpoint.creates else "GET", endpoint.path,
                body if endpoint.creates else None, endpoint.token,
            )  # fmt: skip
            if endpoint.creates and isinstance(data, dict):
                data = [*sorted(data), data["title"], data["author"]]
            answers.append((status, data))
        verdicts[endpoint.name] = all(answer == answers[0] for answer in answers)
    return verdicts


def profile_layers(out: Path, env: dict, endpoints: list, book: dict, smoke: bool) -> dict:
    """CPU per layer per request of both apps, profiled in one process by bench/layers.py."""
    say("profiling the layers in-process (bench/layers.py)")
    plan = {"count": 50 if smoke else 2500, "cpu_seconds": 0.2 if smoke else 4.0,
            "isbn_block": 700_000_000, "requests": [
        {"name": e.name, "path": e.path, "token": e.token, "method": "POST" if e.creates
         else "GET", "json": book if e.creates else None} for e in endpoints]}  # fmt: skip
    (out / "layers-plan.json").write_text(json.dumps(plan))
    with (out / "layers.log").open("wb") as log:
        done = subprocess.run(
            [sys.executable, BENCH / "layers.py", out / "layers-plan.json", out / "layers.json"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=900,
        )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"bench/layers.py failed: {out / 'layers.log'}")
    return dict(json.loads((out / "layers.json").read_text()))


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="This service vs a bare Flask baseline (bench/README)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, every server")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (>1: gthread)")
    parser.add_argument("--keepalive", type=int, default=5, help="seconds (gthread only)")
    parser.add_argument("--starts", type=int, default=5, help="starts timed per server")
    parser.add_argument("--only", nargs="*", default=["list", "item", "create"])
    parser.add_argument("--variant", type=Path, help="another checkout of the template")
    parser.add_argument("--variant-env", nargs="*", default=[], help="NAME=VALUE for it")
    parser.add_argument("--smoke", action="store_true", help="one short round; errors fail")
    options = parser.parse_args()
    if options.smoke:
        options.rounds, options.duration, options.starts = 1, 1, 1
    if shutil.which("wrk") is None:
        raise SystemExit("bench needs wrk (apt-get install wrk; make bench installs it as root)")

    out = BENCH / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True)
    results: dict[str, Any] = {"commit": commit_of(ROOT), "options": vars(options) | {
        "variant": str(options.variant) if options.variant else None}}  # fmt: skip
    results["load_average"] = [Path("/proc/loadavg").read_text().split()[0]]
    with owned_redis_databases(), throwaway_database() as database_url:
        env = environment(database_url, options)
        book_ids = seed(database_url, env)
        say(f"seeded {len(book_ids)} books; servers: {options.workers} workers x {options.threads}")
        measure(results, out, env, book_ids, options)
    results["load_average"].append(Path("/proc/loadavg").read_text().split()[0])
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report(results)
    (out / "table.md").write_text(table + "\n")
    print(f"\n{table}\n\nraw results: {out.relative_to(ROOT)}/")
    errors = sum(r["errors"] for runs in results["runs"].values() for r in runs)
    if errors or not all(results["same_answers"].values()):
        raise SystemExit(f"FAILED: {errors} request errors, same answers {results['same_answers']}")


def measure(results: dict, out: Path, env: dict, book_ids: list[int], options: Any) -> None:
    gunicorn = [sys.executable, "-m", "gunicorn"]
    bare_flags = [f"--workers={options.workers}", f"--threads={options.threads}",
                  f"--keep-alive={options.keepalive}", "--bind=127.0.0.1:$PORT"]  # fmt: skip
    servers = [Server("template", [*gunicorn, "--config", "gunicorn.conf.py"], ROOT, env,
                      out / "template.log")]  # fmt: skip
    if options.variant or options.variant_env:
        extra = dict(item.split("=", 1) for item in options.variant_env)
        cwd = options.variant.resolve() if options.variant else ROOT
        servers.append(Server("variant", servers[0].command, cwd, {**env, **extra},
                              out / "variant.log"))  # fmt: skip
        results["variant_commit"] = commit_of(cwd)
    # Run from bench/, where gunicorn finds no gunicorn.conf.py: plain gunicorn defaults.
    bare = Server("bare", [*gunicorn, *bare_flags, "baseline:app"], BENCH, env, out / "bare.log")
    bare.command = [part.replace("$PORT", str(bare.port)) for part in bare.command]
    servers.append(bare)
    try:
        for server in servers:
            server.start()
        tokens = {}
        for email in (READER, WRITER):
            status, body = call(servers[0].port, "POST", "/api/v1/auth/login",
                                {"email": email, "password": PASSWORD})  # fmt: skip
            if status != 200:
                raise SystemExit(f"login as {email}: {status} {body}")
            tokens[email] = body["access_token"]
        endpoints = [
            Endpoint("list", "/api/v1/books?page_size=100", "get.lua", tokens[READER]),
            Endpoint("item", f"/api/v1/books/{book_ids[500]}", "get.lua", tokens[READER]),
            Endpoint("create", "/api/v1/books", "create_book.lua", tokens[WRITER], creates=True),
        ]
        endpoints = [e for e in endpoints if e.name in options.only]
        book = {"title": "Notes", "author": "Ada Lovelace", "published_year": 1843,
                "description": "On the Analytical Engine."}  # fmt: skip
        results["same_answers"] = same_answers(servers, endpoints, book)
        say(f"same answers as the template: {results['same_answers']}")
        runs: dict[str, list[dict]] = {}
        block = 0
        for endpoint in endpoints:  # warm-up: pools filled, caches built
            for server in servers:
                block += 10_000_000
                wrk(endpoint, server, 1, options.connections, block)
        for number in range(options.rounds):
            for index, endpoint in enumerate(endpoints):
                shift = (number + index) % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    block += 10_000_000  # ISBNs no earlier request used
                    run = wrk(endpoint, server, options.duration, options.connections, block)
                    runs.setdefault(f"{endpoint.name} {server.name}", []).append(run)
                    say(f"round {number + 1} {endpoint.name:6} {server.name:8} "
                        f"{run['rps']:7.0f} req/s  p50 {run['p50_ms']:6.2f}  "
                        f"p99 {run['p99_ms']:6.2f} ms  cpu {run['cpu_ms']:.2f} ms/req"
                        + (f"  ERRORS {run['errors']}" if run["errors"] else ""))  # fmt: skip
        results["runs"] = runs
        time.sleep(1)
        results["memory"] = {}
        for server in servers:
            master, *workers = server.pids()
            results["memory"][server.name] = {
                "master": memory_mib(master),
                "workers": [memory_mib(pid) for pid in workers],
            }
    finally:
        for server in servers:
            server.stop()
    results["layers"] = profile_layers(out, env, endpoints, book, options.smoke)
    say(f"timing start-to-ready, {options.starts} starts each")
    ready: dict[str, list[float]] = {server.name: [] for server in servers}
    for _ in range(options.starts):
        for server in servers:
            try:
                ready[server.name].append(server.start())
            finally:
                server.stop()
    results["ready_s"] = ready
    results["servers"] = [server.name for server in servers]


# --- the table ---------------------------------------------------------------------------------


def report(results: dict) -> str:
    options, runs, names = results["options"], results["runs"], results["servers"]
    lines = [
        f"bench @ {results['commit']}: {options['workers']} gunicorn workers x "
        f"{options['threads']} thread(s) per server, PostgreSQL, wrk {options['connections']} "
        f"connections, medians of {options['rounds']} interleaved rounds of "
        f"{options['duration']:g} s; load average {' -> '.join(results['load_average'])}",
        "",
        "| endpoint | server | req/s | p50 ms | p99 ms | CPU ms/req | req/s vs bare (ORM) "
        "| CPU vs bare |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in dict.fromkeys(key.split()[0] for key in runs):
        rows = {
            name: {k: median([r[k] for r in runs[f"{endpoint} {name}"]])
                   for k in ("rps", "p50_ms", "p99_ms", "cpu_ms")}
            for name in names
        }  # fmt: skip
        bare = rows["bare"]
        for name, row in rows.items():
            rps_ratio, cpu_ratio = row["rps"] / bare["rps"], row["cpu_ms"] / bare["cpu_ms"]
            ratios = "|"
            if name != "bare":
                target = RPS_TARGETS.get(endpoint, 0.0)
                ratios = f"{rps_ratio:.2f}x {mark(rps_ratio >= target)} | {cpu_ratio:.2f}x"
            lines.append(
                f"| {endpoint} | {name} | {row['rps']:.0f} | {row['p50_ms']:.1f} | "
                f"{row['p99_ms']:.1f} | {row['cpu_ms']:.2f} | {ratios} |"
            )
    lines += [
        "",
        "| server | start-to-ready median (min) | vs bare | master RSS / PSS MiB "
        "| per worker RSS / PSS MiB (max) |",
        "|---|---:|---:|---:|---:|",
    ]
    bare_ready = median(results["ready_s"]["bare"])
    for name in names:
        times, memory = results["ready_s"][name], results["memory"][name]
        ratio = median(times) / bare_ready
        worst_rss = max(rss for rss, _ in memory["workers"])
        worst_pss = max(pss for _, pss in memory["workers"])
        lines.append(
            f"| {name} | {median(times):.3f} s ({min(times):.3f} s) | {ratio:.2f}x | "
            f"{memory['master'][0]:.0f} / {memory['master'][1]:.0f} | {worst_rss:.0f} / "
            f"{worst_pss:.0f} {mark(worst_pss <= PSS_TARGET_MIB)} |"
        )
    lines += layer_table(results["layers"])
    lines += [
        "",
        "Targets (met: ok): req/s vs the ORM baseline (bare) >= "
        + ", ".join(f"{name} {ratio}x" for name, ratio in RPS_TARGETS.items())
        + f"; PSS per worker <= {PSS_TARGET_MIB:.0f} MiB. CPU/request and start-to-ready vs bare"
        f" are information (no target). Same answers: {results['same_answers']}",
    ]
    return "\n".join(lines)


def mark(met: bool) -> str:
    return "ok" if met else "**miss**"


if __name__ == "__main__":
    main()
