"""The template, the bare baseline and the FastAPI full-stack template's backend, in the same
rounds: the peer comparison of bench/README.md, repeated by one command.

    python bench/three_way.py <checkout of full-stack-fastapi-template> [--rounds 3] [--duration 5]

The peer is a checkout of github.com/fastapi/full-stack-fastapi-template (the README's run used
a7275354, its last commit on Python 3.11). This script installs its locked dependencies into
that checkout (``uv sync --frozen --no-dev``), gives it a throwaway PostgreSQL database of its
own (migrated with its ``alembic upgrade head``, seeded by its ``app/initial_data.py`` and its
API: a reader with 1000 items, a writer), serves it with ``fastapi run --workers N`` in its
production settings, and then runs wrk against the three servers with the same
connections, rotating their order in every round, as bench/run.py does for two.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import run
from run import BENCH, READER, ROOT, WRITER, Endpoint, Server, median, say, wrk

PEER_PASSWORD = "bench-" + secrets.token_urlsafe(12)
ITEMS = 1000
UV = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")


def check_run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stdout}{done.stderr}")


def peer_venv(backend: Path) -> Path:
    """Its virtualenv: the workspace's (the checkout's root) or, in older ones, backend's."""
    for venv in (backend.parent / ".venv", backend / ".venv"):
        if (venv / "bin" / "fastapi").exists():
            return venv
    raise SystemExit(f"no virtualenv with fastapi in {backend.parent} after uv sync")


def peer_environment(database_url: str, workers: int) -> dict[str, str]:
    database = urllib.parse.urlsplit(database_url)
    return {
        "PATH": os.environ["PATH"],
        "ENVIRONMENT": "production",
        "PROJECT_NAME": "bench",
        "SECRET_KEY": secrets.token_urlsafe(36),
        "POSTGRES_SERVER": database.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(database.port or 5432),
        "POSTGRES_USER": database.username or "postgres",
        "POSTGRES_PASSWORD": database.password or "unused-with-trust",
        "POSTGRES_DB": database.path.lstrip("/"),
        "FIRST_SUPERUSER": "admin@example.com",
        "FIRST_SUPERUSER_PASSWORD": PEER_PASSWORD,
        "BACKEND_CORS_ORIGINS": "",
        "SENTRY_DSN": "",
        "WEB_CONCURRENCY": str(workers),
    }


def peer_token(port: int, email: str) -> str:
    form = urllib.parse.urlencode({"username": email, "password": PEER_PASSWORD}).encode()
    url = f"http://127.0.0.1:{port}/api/v1/login/access-token"
    with urllib.request.urlopen(url, form, timeout=10) as answer:
        return str(json.load(answer)["access_token"])


def seed_peer(server: Server) -> tuple[dict[str, str], str]:
    """A reader with ITEMS items and a writer, through the peer's own API."""
    tokens = {}
    for email in (READER, WRITER):
        user = {"email": email, "password": PEER_PASSWORD, "full_name": "Bench"}
        status, body = run.call(server.port, "POST", "/api/v1/users/signup", user)
        if status != 200:
            raise SystemExit(f"peer signup of {email}: {status} {body}")
        tokens[email] = peer_token(server.port, email)
    item_id = ""
    for n in range(ITEMS):
        item = {"title": f"Item {n}", "description": "Notes on the Analytical Engine."}
        status, body = run.call(server.port, "POST", "/api/v1/items/", item, tokens[READER])
        if status != 200:
            raise SystemExit(f"peer item {n}: {status} {body}")
        item_id = item_id or body["id"]
    return tokens, item_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", type=Path, help="checkout of full-stack-fastapi-template")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, every server")
    parser.add_argument("--starts", type=int, default=4, help="starts timed per server")
    options = parser.parse_args()
    options.threads, options.keepalive = 1, 5
    backend = options.peer.resolve() / "backend"
    if not (backend / "app" / "main.py").is_file():
        raise SystemExit(f"{options.peer} is not a checkout of full-stack-fastapi-template")
    say(f"installing the peer's locked dependencies in {options.peer}")
    check_run(
        [UV, "sync", "--frozen", "--no-dev"],
        backend,
        {**os.environ, "UV_PYTHON": run.sys.executable},
    )
    venv = peer_venv(backend)
    out = BENCH / "results" / f"three-way-{run.datetime.now(run.UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True)
    with (
        run.owned_redis_databases(),
        run.throwaway_database() as database_url,
        run.throwaway_database() as peer_url,
    ):
        env = run.environment(database_url, options)
        book_ids = run.seed(database_url, env)
        peer_env = peer_environment(peer_url, options.workers)
        check_run([str(venv / "bin" / "alembic"), "upgrade", "head"], backend, peer_env)
        check_run([str(venv / "bin" / "python"), "app/initial_data.py"], backend, peer_env)
        results = measure(options, out, env, book_ids, backend, venv, peer_env)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = report(results)
    (out / "table.md").write_text(table + "\n")
    print(f"\n{table}\n\nraw results: {out.relative_to(ROOT)}/")


def measure(options: Any, out: Path, env: dict, book_ids: list[int], backend: Path,
            venv: Path, peer_env: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    gunicorn = [run.sys.executable, "-m", "gunicorn"]
    bare_flags = [f"--workers={options.workers}", "--bind=127.0.0.1:$PORT"]
    template = Server("template", [*gunicorn, "--config", "gunicorn.conf.py"], ROOT, env,
                      out / "template.log")  # fmt: skip
    bare = Server("bare", [*gunicorn, *bare_flags, "baseline:app"], BENCH, env, out / "bare.log")
    bare.command = [part.replace("$PORT", str(bare.port)) for part in bare.command]
    peer = Server("fastapi", [], backend, peer_env, out / "fastapi.log",
                  ready_path="/api/v1/utils/health-check/")  # fmt: skip
    peer.command = [str(venv / "bin" / "fastapi"), "run", "--workers", str(options.workers),
                    "--host", "127.0.0.1", "--port", str(peer.port), "app/main.py"]  # fmt: skip
    servers = [template, bare, peer]
    results: dict[str, Any] = {
        "commit": run.commit_of(ROOT),
        "peer": run.commit_of(backend),
        "options": {k: str(v) for k, v in vars(options).items()},
    }
    try:
        for server in servers:
            server.start()
        tokens = {}
        for email in (READER, WRITER):
            status, body = run.call(template.port, "POST", "/api/v1/auth/login",
                                    {"email": email, "password": run.PASSWORD})  # fmt: skip
            if status != 200:
                raise SystemExit(f"login as {email}: {status} {body}")
            tokens[email] = body["access_token"]
        say(f"seeding the peer with {ITEMS} items through its API")
        peer_tokens, item_id = seed_peer(peer)
        ours = {
            "list": Endpoint("list", "/api/v1/books?page_size=100", "get.lua", tokens[READER]),
            "item": Endpoint("item", f"/api/v1/books/{book_ids[500]}", "get.lua", tokens[READER]),
            "create": Endpoint("create", "/api/v1/books", "create_book.lua", tokens[WRITER],
                               creates=True),
        }  # fmt: skip
        theirs = {
            "list": Endpoint("list", "/api/v1/items/?limit=100", "get.lua", peer_tokens[READER]),
            "item": Endpoint("item", f"/api/v1/items/{item_id}", "get.lua", peer_tokens[READER]),
            "create": Endpoint("create", "/api/v1/items/", "create_item.lua",
                               peer_tokens[WRITER], creates=True),
        }  # fmt: skip
        runs: dict[str, list[dict]] = {}
        block = 0
        for number in range(-1, options.rounds):  # round -1 warms up: pools, caches
            for index, name in enumerate(ours):
                shift = (number + index) % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    block += 10_000_000
                    endpoint = theirs[name] if server is peer else ours[name]
                    seconds = 1 if number < 0 else options.duration
                    result = wrk(endpoint, server, seconds, options.connections, block)
                    if number >= 0:
                        runs.setdefault(f"{name} {server.name}", []).append(result)
                        say(f"round {number + 1} {name:6} {server.name:8} {result['rps']:7.0f}"
                            f" req/s  cpu {result['cpu_ms']:.2f} ms/req  p99 "
                            f"{result['p99_ms']:.1f} ms  errors {result['errors']}")  # fmt: skip
        results["runs"] = runs
        results["memory"] = {}
        for server in servers:
            usage = [run.memory_mib(pid) for pid in server.pids()]
            results["memory"][server.name] = [sum(m[0] for m in usage), sum(m[1] for m in usage)]
    finally:
        for server in servers:
            server.stop()
    results["ready_s"] = {server.name: [] for server in servers}
    for _ in range(options.starts):
        for server in servers:
            try:
                results["ready_s"][server.name].append(server.start())
            finally:
                server.stop()
    return results


def report(results: dict[str, Any]) -> str:
    runs = results["runs"]
    lines = [
        f"three-way @ {results['commit']} (peer @ {results['peer']}), medians of "
        f"{results['options']['rounds']} rounds of {results['options']['duration']} s, "
        f"{results['options']['workers']} worker processes each, wrk "
        f"{results['options']['connections']} connections",
        "",
        "| endpoint | template req/s (CPU ms, p99 ms) | FastAPI template | bare (ORM) "
        "| template vs FastAPI | template vs bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("list", "item", "create"):
        row = {
            server: {k: median([r[k] for r in runs[f"{name} {server}"]])
                     for k in ("rps", "cpu_ms", "p99_ms")}
            for server in ("template", "fastapi", "bare")
        }  # fmt: skip
        cells = [f"{r['rps']:.0f} ({r['cpu_ms']:.2f}, {r['p99_ms']:.0f})" for r in row.values()]
        ours, peer, bare = (row[s]["rps"] for s in ("template", "fastapi", "bare"))
        lines.append(f"| {name} | {' | '.join(cells)} | {ours / peer:.2f}x | {ours / bare:.2f}x |")
    lines += ["", "| | template | FastAPI template | bare |", "|---|---:|---:|---:|"]
    ready = results["ready_s"]
    lines.append("| start-to-ready, median | " + " | ".join(
        f"{median(ready[s]):.2f} s" for s in ("template", "fastapi", "bare")) + " |")  # fmt: skip
    memory = results["memory"]
    lines.append("| all processes after the load: RSS / PSS MiB | " + " | ".join(
        f"{memory[s][0]:.0f} / {memory[s][1]:.0f}" for s in ("template", "fastapi", "bare"))
        + " |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
