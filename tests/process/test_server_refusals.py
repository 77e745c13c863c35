"""Requests gunicorn refuses before the app sees them are answered as problems, like the rest."""

from __future__ import annotations

import json
import socket

import pytest

from tests.process.conftest import Databases, Processes, WebServer, environment

pytestmark = pytest.mark.no_shared_db


@pytest.fixture(scope="module")
def web(module_processes: Processes, module_databases: Databases) -> WebServer:
    return module_processes.web(environment(DATABASE_URL=module_databases.create()))


def send(web: WebServer, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` bytes as they are; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", web.port), timeout=10) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("raw", "status", "title"),
    [
        (
            b"GET /api/v1/books?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "URI Too Long",
        ),
        (
            b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
            "Request Header Fields Too Large",
        ),
        (
            b"GET /livez HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 120 + b"\r\n",
            431,
            "Request Header Fields Too Large",
        ),
        (b"NOT A REQUEST\r\n\r\n", 400, "Bad Request"),
    ],
    ids=["request line too long", "header too large", "too many headers", "no request line"],
)
def test_a_request_the_server_refuses_gets_a_problem(
    web: WebServer, raw: bytes, status: int, title: str
) -> None:
    answered, headers, body = send(web, raw)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["title"] == title
    assert problem["detail"]
    # Refused before the app: no request id was given, and the path may be the problem.
    assert "request_id" not in problem
    assert "instance" not in problem
    assert int(headers["content-length"]) == len(body)
