"""gunicorn and the app agree on whom to believe about the client and the public scheme.

gunicorn reads X-Forwarded-Proto (and X-Forwarded-Ssl, X-Forwarded-Protocol) by itself from
the peers in its forwarded_allow_ips. Served as the Procfile serves it, a client on the same
machine as the server (where a proxy would be) gets nowhere with those headers unless
TRUSTED_PROXIES says a proxy is in front; behind one, the client it names is who the rate limit
counts.
"""

from __future__ import annotations

import pytest

from tests.process.conftest import Databases, Processes, WebServer, environment

pytestmark = pytest.mark.no_shared_db

SCHEME_HEADERS = [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
]
LOGIN = {"email": "nobody@example.com", "password": "wrong password"}


def serve(processes: Processes, databases: Databases, trusted_proxies: int) -> WebServer:
    env = environment(
        DATABASE_URL=databases.create(),
        TRUSTED_PROXIES=str(trusted_proxies),
        RATELIMIT_ENABLED="true",
        RATELIMIT_AUTH="2/minute",
    )
    return processes.web(env, f"web-{trusted_proxies}-proxies")


def https(server: WebServer, headers: dict[str, str]) -> bool:
    reply = server.request("GET", "/livez", headers=headers)
    return "strict-transport-security" in reply.headers


def log_in_as(server: WebServer, client: str) -> int:
    reply = server.request(
        "POST", "/api/v1/auth/login", json_body=LOGIN, headers={"X-Forwarded-For": client}
    )
    return reply.status


def test_without_a_trusted_proxy_no_forwarding_header_counts(
    processes: Processes, databases: Databases
) -> None:
    server = serve(processes, databases, trusted_proxies=0)
    assert [https(server, headers) for headers in SCHEME_HEADERS] == [False, False, False]
    statuses = [log_in_as(server, f"198.51.100.{number}") for number in range(3)]
    assert statuses == [401, 401, 429]


def test_behind_one_proxy_its_forwarded_client_and_scheme_count(
    processes: Processes, databases: Databases
) -> None:
    server = serve(processes, databases, trusted_proxies=1)
    # The app reads X-Forwarded-Proto, hop-counted; gunicorn's other spellings stay unread.
    assert [https(server, headers) for headers in SCHEME_HEADERS] == [True, False, False]
    assert [log_in_as(server, "203.0.113.5") for _ in range(3)] == [401, 401, 429]
    assert log_in_as(server, "203.0.113.6") == 401
