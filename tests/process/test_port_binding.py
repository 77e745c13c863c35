"""VII. Port binding: the web process is self-contained and serves HTTP on $HOST:$PORT."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.process.conftest import (
    Databases,
    Processes,
    WebServer,
    command,
    environment,
    listen_queue_length,
)

pytestmark = pytest.mark.no_shared_db


def test_the_web_process_serves_on_the_host_and_port_it_is_given(
    processes: Processes, databases: Databases
) -> None:
    port = free_port()
    env = environment(
        DATABASE_URL=databases.create(migrated=False), HOST="127.0.0.1", PORT=str(port)
    )
    server = WebServer(processes.start("web", command("web"), env), port)

    server.wait_ready()

    assert listen_queue_length(port) is not None  # a listening socket on exactly 127.0.0.1:PORT
    assert server.process.logged(f"Listening at: http://127.0.0.1:{port} ")
    assert server.request("GET", "/version").json()["release"]
