"""IX. Disposability: the web process starts fast and stops gracefully.

Startup is measured (and shown after the run), never asserted. On SIGTERM the gunicorn master
stops listening, lets the request in flight finish with its normal response, and exits 0.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time

import pytest
from sqlalchemy import select

from app.auth.models import User
from tests.conftest import PASSWORD
from tests.process.conftest import (
    Databases,
    Processes,
    environment,
    listen_queue_length,
    session,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db


def test_a_request_in_flight_at_sigterm_completes_and_the_master_exits_0(
    processes: Processes, databases: Databases
) -> None:
    database_url = databases.create()
    web = processes.web(environment(DATABASE_URL=database_url))
    body = json.dumps({"email": "late@example.com", "password": PASSWORD, "name": "Late"}).encode()
    head = (
        "POST /api/v1/auth/signup HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{web.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as client:
        client.sendall(head + body[:12])  # the client is still sending its body ...
        wait_until(
            "the worker has accepted the connection",
            lambda: listen_queue_length(web.port) == 0,
            show=(web.process,),
        )
        web.process.send(signal.SIGTERM)  # ... when the platform stops the process
        wait_until(
            "the master handles SIGTERM",
            lambda: web.process.logged("Handling signal: term"),
            show=(web.process,),
        )
        time.sleep(0.5)  # the master passes SIGTERM on to its worker; not an assertion
        client.sendall(body[12:])
        response = http.client.HTTPResponse(client)
        response.begin()
        answer = json.loads(response.read())

    assert response.status == 202
    assert answer["detail"].startswith("Check your inbox")
    assert web.process.wait() == 0
    assert web.process.logged("Shutting down: Master")
    with session(database_url) as rows:
        assert rows.scalar(select(User.name).where(User.email == "late@example.com")) == "Late"
