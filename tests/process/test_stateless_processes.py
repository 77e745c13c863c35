"""VI. Processes: two web servers that share nothing but the database and Redis act as one.

Each server is its own gunicorn master on its own port. Whatever one of them learns (a
sign-out, a spent refresh token, a failed login attempt) the other knows at once, because no
state that must outlive a request is kept in a process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.conftest import RedisNamespace
from tests.process.conftest import Databases, Processes, WebServer, environment

pytestmark = pytest.mark.no_shared_db

LIMIT = 5  # RATELIMIT_AUTH of both servers, per client address and endpoint


@dataclass
class Twins:
    first: WebServer
    second: WebServer


@pytest.fixture(scope="module")
def twins(
    module_processes: Processes, module_databases: Databases, module_redis: RedisNamespace
) -> Twins:
    env = environment(
        DATABASE_URL=module_databases.create(),
        RATELIMIT_ENABLED="true",
        RATELIMIT_STORAGE_URI=module_redis.url,
        REDIS_KEY_PREFIX=module_redis.key_prefix,
        RATELIMIT_AUTH=f"{LIMIT}/minute",
    )
    first = module_processes.start_web(env, "web-first")
    second = module_processes.start_web(env, "web-second")
    first.wait_ready()
    second.wait_ready()
    return Twins(first, second)


@pytest.fixture
def servers(twins: Twins, module_redis: RedisNamespace) -> Twins:
    """The two servers, with no rate-limit counts left over from another test."""
    module_redis.clear()
    return twins


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def test_a_sign_out_through_one_server_is_honoured_by_the_other(servers: Twins) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    servers.first.sign_up(email)
    tokens = servers.first.tokens(email)
    me = bearer(tokens["access_token"])
    assert servers.second.request("GET", "/api/v1/users/me", headers=me).status == 200

    assert servers.first.request("POST", "/api/v1/auth/logout", headers=me).status == 204

    assert servers.second.request("GET", "/api/v1/users/me", headers=me).status == 401
    refresh = {"refresh_token": tokens["refresh_token"]}
    assert servers.second.request("POST", "/api/v1/auth/refresh", json_body=refresh).status == 401


def test_a_refresh_token_rotated_on_one_server_is_spent_on_the_other(servers: Twins) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    servers.second.sign_up(email)
    old = {"refresh_token": servers.second.tokens(email)["refresh_token"]}
    rotated = servers.first.request("POST", "/api/v1/auth/refresh", json_body=old)
    assert rotated.status == 200

    reused = servers.second.request("POST", "/api/v1/auth/refresh", json_body=old)

    assert reused.status == 401
    # Reuse ends the whole sign-in, on the server that issued the new pair too.
    new = rotated.json()
    me = bearer(new["access_token"])
    assert servers.first.request("GET", "/api/v1/users/me", headers=me).status == 401
    again = {"refresh_token": new["refresh_token"]}
    assert servers.first.request("POST", "/api/v1/auth/refresh", json_body=again).status == 401


def test_login_attempts_split_across_servers_share_one_limit(servers: Twins) -> None:
    wrong = {"email": "nobody@example.com", "password": "not the password"}
    statuses = [
        (servers.first if attempt % 2 == 0 else servers.second)
        .request("POST", "/api/v1/auth/login", json_body=wrong)
        .status
        for attempt in range(LIMIT)
    ]
    assert statuses == [401] * LIMIT  # 3 on the first server, 2 on the second

    for server in (servers.second, servers.first):
        refused = server.request("POST", "/api/v1/auth/login", json_body=wrong)
        assert refused.status == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 0 < int(refused.headers["retry-after"]) <= 60
