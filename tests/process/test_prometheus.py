"""A real Prometheus scrapes the web and worker processes, as an operator's would.

gunicorn runs 2 workers with METRICS_PORT set; one request is held open on one worker while
others go to the second, so both serve the same route. Prometheus, installed from Debian's
package (``.ci/run`` installs it; this test installs nothing), scrapes both ports, and the
test asks its query API what it saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core import project
from app.core.outbox import OutboxMessage
from tests.conftest import RedisNamespace, free_port
from tests.process.conftest import (
    Databases,
    Process,
    Processes,
    WebServer,
    command,
    ecs_field,
    environment,
    listen_queue_length,
    missing_service,
    session,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

BOOK_ROUTE = "/api/v1/books/<book_id>"
REQUESTS_ON_SECOND_WORKER = 7
RELEASE = "2026.12.02-metrics"


@dataclass
class Prometheus:
    process: Process
    port: int

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": promql}
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])

    def value(self, promql: str) -> float | None:
        """The single value of an instant query, None while it has no result."""
        with contextlib.suppress(OSError):
            result = self.query(promql)
            if len(result) == 1:
                return float(result[0]["value"][1])
        return None


@dataclass
class Observed:
    web: WebServer
    worker: Process
    prometheus: Prometheus


@pytest.fixture(scope="module")
def observed(
    module_processes: Processes,
    module_databases: Databases,
    module_redis: RedisNamespace,
    tmp_path_factory: pytest.TempPathFactory,
) -> Observed:
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        missing_service("prometheus is not installed (apt-get install prometheus)")
    web_metrics, worker_metrics, prometheus_port = free_port(), free_port(), free_port()
    env = environment(
        module_redis.env,
        DATABASE_URL=module_databases.create(),
        APP_RELEASE=RELEASE,
    )
    web = module_processes.start_web(
        {**env, "WEB_CONCURRENCY": "2", "METRICS_PORT": str(web_metrics)}
    )
    worker = module_processes.start(
        "worker", command("worker"), {**env, "METRICS_PORT": str(worker_metrics)}
    )
    web.wait_ready()

    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(scrape_config({"web": web_metrics, "worker": worker_metrics}))
    process = module_processes.start(
        "prometheus",
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        env,
    )
    prometheus = Prometheus(process, prometheus_port)
    wait_until(
        "Prometheus scrapes the web and worker processes",
        lambda: prometheus.value("sum(up)") == 2,
        timeout=60,
        show=(process, web.process, worker),
    )
    return Observed(web, worker, prometheus)


def scrape_config(targets: dict[str, int]) -> str:
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        for job, port in targets.items()
    )
    return f"global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}"


def held_request(web: WebServer, path: str) -> socket.socket:
    """A request whose headers are not finished yet: one worker waits on it, busy."""
    held = socket.create_connection(("127.0.0.1", web.port), timeout=15)
    held.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    wait_until(
        "a worker has accepted the held connection", lambda: not listen_queue_length(web.port)
    )
    return held


def test_requests_of_both_workers_are_counted_by_route_template(observed: Observed) -> None:
    web, prometheus = observed.web, observed.prometheus
    held = held_request(web, "/api/v1/books/1000")
    for book_id in range(REQUESTS_ON_SECOND_WORKER):
        assert web.request("GET", f"/api/v1/books/{book_id}").status == 401
    held.sendall(b"Connection: close\r\n\r\n")
    assert held.recv(64).startswith(b"HTTP/1.1 401")
    held.close()

    served_by = {
        ecs_field(event, "process.pid")
        for event in web.process.events()
        if str(ecs_field(event, "url.path")).startswith("/api/v1/books/")
    }
    assert len(served_by) == 2
    counted = (
        'sum(http_server_request_duration_seconds_count{job="web",'
        f'http_route="{BOOK_ROUTE}",http_request_method="GET",'
        'http_response_status_code="401"})'
    )
    wait_until(
        "Prometheus has counted every request to the book route",
        lambda: prometheus.value(counted) == REQUESTS_ON_SECOND_WORKER + 1,
        show=(prometheus.process,),
        state=lambda: str(prometheus.query("http_server_request_duration_seconds_count")),
    )
    raw_paths = prometheus.query('{http_route=~".*/books/[0-9].*"}')
    assert raw_paths == []


def test_metrics_are_not_on_the_public_port(observed: Observed) -> None:
    assert observed.web.request("GET", "/metrics").status == 404


def test_the_web_process_reports_its_release(observed: Observed) -> None:
    build = observed.prometheus.query(f'{project.METRIC_PREFIX}_build_info{{job="web"}}')
    assert [series["metric"]["release"] for series in build] == [RELEASE]


def test_the_worker_reports_its_tasks_by_name_and_outcome(observed: Observed) -> None:
    observed.web.sign_up("ada@example.com")
    succeeded = (
        'celery_task_duration_seconds_count{job="worker",'
        'task_name="app.auth.tasks.send_welcome_email",outcome="success"}'
    )
    wait_until(
        "Prometheus has counted the task",
        lambda: observed.prometheus.value(succeeded) == 1,
        show=(observed.prometheus.process, observed.worker),
    )


def test_the_metrics_port_may_not_be_the_public_port(processes: Processes) -> None:
    port = free_port()
    server = processes.start(
        "web", command("web"), environment(PORT=str(port), METRICS_PORT=str(port))
    )
    assert server.wait() != 0
    assert "METRICS_PORT must differ from the public PORT" in server.stderr()


def scrape(port: int) -> dict[str, float]:
    """The web process's metrics port as text: sample line -> value (unlabelled ones only)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_a_killed_worker_leaves_no_request_in_flight_behind(
    processes: Processes, databases: Databases
) -> None:
    metrics_port = free_port()
    web = processes.web(
        environment(
            DATABASE_URL=databases.create(), WEB_CONCURRENCY="2", METRICS_PORT=str(metrics_port)
        )
    )
    # A request whose body never finishes: the view waits for it, in flight.
    stuck = socket.create_connection(("127.0.0.1", web.port), timeout=15)
    stuck.sendall(
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    wait_until(
        "the request is in flight",
        lambda: scrape(metrics_port).get("http_server_active_requests") == 1,
        show=(web.process,),
    )
    workers = web.process.children()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    wait_until(
        "gunicorn has replaced its workers",
        lambda: len(set(web.process.children()) - set(workers)) == 2,
        show=(web.process,),
    )
    stuck.close()
    assert scrape(metrics_port)["http_server_active_requests"] == 0
    assert web.request("GET", "/livez").status == 200


def test_a_worker_waiting_for_its_broker_still_answers_scrapes(
    processes: Processes, databases: Databases
) -> None:
    metrics_port = free_port()
    env = environment(
        DATABASE_URL=databases.create(),
        CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        METRICS_PORT=str(metrics_port),
    )
    worker = processes.start("worker", command("worker"), env)

    def reports_its_release() -> bool:
        with contextlib.suppress(OSError):
            build_info = f"{project.METRIC_PREFIX}_build_info"
            return any(name.startswith(build_info) for name in scrape(metrics_port))
        return False

    wait_until("the worker answers a scrape", reports_its_release, show=(worker,))


def test_the_worker_reports_what_waits_in_the_outbox(
    processes: Processes, databases: Databases
) -> None:
    metrics_port = free_port()
    database_url = databases.create()
    env = environment(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0",  # the broker is down
    )
    web = processes.web(env)
    worker = processes.start(
        "worker", command("worker"), {**env, "METRICS_PORT": str(metrics_port)}
    )
    web.sign_up("waiting@example.com")  # its welcome mail waits in the outbox
    with session(database_url) as db:
        waiting = db.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None)))
    assert waiting

    def outbox() -> tuple[float | None, float | None]:
        with contextlib.suppress(OSError):
            samples = scrape(metrics_port)
            return (
                samples.get(f"{project.METRIC_PREFIX}_outbox_pending_messages"),
                samples.get(f"{project.METRIC_PREFIX}_outbox_oldest_pending_age_seconds"),
            )
        return None, None

    wait_until(
        "the worker reports the waiting messages, waiting for a while",
        lambda: outbox()[0] == waiting and (outbox()[1] or 0) > 1,
        show=(worker, web.process),
        state=lambda: str(outbox()),
    )
