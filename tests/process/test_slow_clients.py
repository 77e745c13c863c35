"""Slow clients meet the buffering proxy, not a worker.

The Procfile's web process with 2 sync workers, and the shipped nginx configuration
(deploy/nginx/) in front of it, as compose runs them. 8 clients trickle their headers and 8
their body; ordinary requests meanwhile must keep being answered within a second. The same
trickle sent straight to gunicorn starves them: that is why the proxy is there.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import string
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MEASUREMENTS, free_port
from tests.process.conftest import (
    PROJECT_ROOT,
    Databases,
    Processes,
    WebServer,
    environment,
    missing_service,
    wait_until,
)

pytestmark = pytest.mark.embedded_only

TEMPLATE = PROJECT_ROOT / "deploy" / "nginx" / "default.conf.template"
MAX_CONTENT_LENGTH = 1024 * 1024  # the app's default

SLOW_HEADER_CLIENTS = 8
SLOW_BODY_CLIENTS = 8
TRICKLE_INTERVAL = 0.5  # seconds between two pieces a slow client sends
ORDINARY_REQUESTS = 20  # one every ORDINARY_SPACING seconds while the trickle goes on
ORDINARY_SPACING = 0.25
ANSWER_WITHIN = 1.0  # seconds


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        missing_service("nginx is not installed (make nginx, or apt-get install nginx)")
    return found


def start_nginx(processes: Processes, folder: Path, backend_port: int) -> WebServer:
    """The shipped server configuration, filled in as the nginx image's templates are, inside
    a main configuration that keeps every file of this nginx in ``folder``."""
    port = free_port()
    server = string.Template(TEMPLATE.read_text()).safe_substitute(
        NGINX_PORT=f"127.0.0.1:{port}",
        BACKEND=f"127.0.0.1:{backend_port}",
        MAX_CONTENT_LENGTH=str(MAX_CONTENT_LENGTH),
    )
    (folder / "server.conf").write_text(server)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (folder / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        "error_log stderr warn;\nevents { worker_connections 256; }\n"
        f"http {{\n    access_log off;\n{temp_paths}\n    include {folder / 'server.conf'};\n}}\n"
    )
    argv = [nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"]
    process = processes.start("nginx", argv, environment())
    proxy = WebServer(process, port)
    proxy.wait_ready()
    return proxy


@pytest.fixture
def web(processes: Processes, databases: Databases) -> WebServer:
    env = environment(DATABASE_URL=databases.create(migrated=False), WEB_CONCURRENCY="2")
    return processes.web({**env, "TRUSTED_PROXIES": "1"})


@contextlib.contextmanager
def trickling(port: int) -> Iterator[None]:
    """Slow clients on ``port`` for as long as the block runs: half send their headers a
    line at a time, half their body a byte at a time; none ever finishes its request."""
    stop = threading.Event()
    clients: list[tuple[socket.socket, bytes]] = []
    for n in range(SLOW_HEADER_CLIENTS + SLOW_BODY_CLIENTS):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        if n < SLOW_HEADER_CLIENTS:
            connection.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            clients.append((connection, b"X-Slow: 1\r\n"))
        else:
            connection.sendall(
                b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            )
            clients.append((connection, b" "))

    def trickle() -> None:
        for _ in range(120):  # at most a minute, whatever happens
            if stop.wait(TRICKLE_INTERVAL):
                return
            for connection, piece in clients:
                with contextlib.suppress(OSError):  # a server may give up on a slow client
                    connection.sendall(piece)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection, _ in clients:
            connection.close()


def answered_in_time(port: int, delay: float) -> bool:
    """GET /livez ``delay`` seconds from now: answered 200 within ANSWER_WITHIN seconds?"""
    time.sleep(delay)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN) as connection:
            connection.settimeout(ANSWER_WITHIN)
            started = time.monotonic()
            connection.sendall(
                b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            status_line = connection.recv(64)
            return status_line.startswith(b"HTTP/1.1 200") and (
                time.monotonic() - started <= ANSWER_WITHIN
            )
    except OSError:
        return False


def share_answered_while_trickling(port: int) -> float:
    with trickling(port), ThreadPoolExecutor(ORDINARY_REQUESTS) as pool:
        delays = [n * ORDINARY_SPACING for n in range(ORDINARY_REQUESTS)]
        answers = list(pool.map(lambda delay: answered_in_time(port, delay), delays))
    return sum(answers) / len(answers)


def test_slow_clients_meet_the_proxy_not_a_worker(
    processes: Processes, web: WebServer, tmp_path: Path
) -> None:
    proxy = start_nginx(processes, tmp_path, web.port)

    behind_the_proxy = share_answered_while_trickling(proxy.port)
    straight_to_gunicorn = share_answered_while_trickling(web.port)
    MEASUREMENTS.append(
        f"ordinary requests answered within {ANSWER_WITHIN:.0f} s while 16 clients trickle: "
        f"{behind_the_proxy:.0%} behind nginx, {straight_to_gunicorn:.0%} straight to gunicorn"
    )

    assert behind_the_proxy >= 0.95, proxy.process.tail()
    # Without it, the 2 workers are busy reading slow requests and ordinary ones wait.
    assert straight_to_gunicorn <= 0.5, (straight_to_gunicorn, web.process.tail())


def test_the_proxy_refuses_a_body_over_the_limit_and_forwards_the_client(
    processes: Processes, web: WebServer, tmp_path: Path
) -> None:
    proxy = start_nginx(processes, tmp_path, web.port)
    too_large = proxy.request(
        "POST", "/api/v1/auth/login", json_body={"password": "x" * MAX_CONTENT_LENGTH}
    )
    assert too_large.status == 413
    assert too_large.headers["content-type"] == "application/problem+json"
    assert too_large.json()["status"] == 413

    # TRUSTED_PROXIES=1 reads the proxy's entries, never what the client made up.
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    answer = proxy.request("GET", "/livez", headers={**forged, "X-Request-ID": "via-proxy"})
    assert answer.status == 200
    assert "strict-transport-security" not in answer.headers  # the proxy spoke http

    def access_event() -> dict[str, Any] | None:
        events = web.process.events()
        return next(
            (e for e in events if e.get("http", {}).get("request", {}).get("id") == "via-proxy"),
            None,
        )

    wait_until("the request is logged", access_event, timeout=5, show=(web.process,))
    assert access_event()["client"]["ip"] == "127.0.0.1"  # type: ignore[index]
