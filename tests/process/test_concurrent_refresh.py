"""Copies of one refresh token raced against a multi-worker server: at most one gets a pair.

A refresh token leaked to an attacker is used by both the attacker and its owner, often at
the same moment. Each round signs in, then sends eight copies of the refresh token at once
from eight threads to four gunicorn workers. Whichever backend TEST_DATABASE_URL names
(SQLite by default, PostgreSQL or MariaDB in the matrix), the answer is the same: one copy at
most is traded for a new pair, every other one counts as reuse and ends the sign-in, and no
request meets a server error.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.process.conftest import Databases, Processes, Reply, WebServer, environment

pytestmark = pytest.mark.no_shared_db

ROUNDS = 6
COPIES = 8
WORKERS = 4


@pytest.fixture(scope="module")
def server(module_processes: Processes, module_databases: Databases) -> WebServer:
    env = environment(DATABASE_URL=module_databases.create(), WEB_CONCURRENCY=str(WORKERS))
    return module_processes.web(env, "web-4-workers")


def race(server: WebServer, refresh_token: str) -> list[Reply]:
    """Send COPIES refreshes with one token, released together by a barrier."""
    start = threading.Barrier(COPIES)

    def refresh() -> Reply:
        start.wait(timeout=10)
        return server.request(
            "POST", "/api/v1/auth/refresh", json_body={"refresh_token": refresh_token}
        )

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        return list(pool.map(lambda _: refresh(), range(COPIES)))


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_racing_copies_of_a_refresh_token_yield_at_most_one_pair(
    server: WebServer, round_number: int
) -> None:
    email = f"race-{round_number}-{uuid.uuid4().hex[:8]}@example.com"
    server.sign_up(email)
    tokens = server.tokens(email)

    replies = race(server, tokens["refresh_token"])

    statuses = sorted(reply.status for reply in replies)
    assert all(status in (200, 401) for status in statuses), statuses
    winners = [reply for reply in replies if reply.status == 200]
    assert len(winners) <= 1, statuses
    # Seven or more copies were refused, so reuse was seen and the whole sign-in ended:
    # neither the winner's new tokens nor the original access token work any more.
    for reply in replies:
        if reply.status == 401:
            assert reply.headers["content-type"] == "application/problem+json"
    survivors = [tokens["access_token"]] + [reply.json()["access_token"] for reply in winners]
    for access_token in survivors:
        me = server.request(
            "GET", "/api/v1/users/me", headers={"Authorization": f"Bearer {access_token}"}
        )
        assert me.status == 401
    for reply in winners:
        again = server.request(
            "POST",
            "/api/v1/auth/refresh",
            json_body={"refresh_token": reply.json()["refresh_token"]},
        )
        assert again.status == 401
