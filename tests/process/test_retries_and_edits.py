"""Retries and racing edits against the Procfile's web process with several workers: the
database, not any one process, decides which request wins (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from app.jobs.models import Job
from tests.process.conftest import Databases, Processes, Reply, WebServer, environment, session

pytestmark = pytest.mark.no_shared_db

CLIENTS = 8
BOOKS = "/api/v1/books"


def all_at_once(send: Callable[[int], Reply]) -> list[Reply]:
    """Send CLIENTS requests from as many threads, released together."""
    start = threading.Barrier(CLIENTS)

    def released(client: int) -> Reply:
        start.wait(timeout=30)
        return send(client)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(released, range(CLIENTS)))


@pytest.fixture(scope="module")
def server(module_processes: Processes, module_databases: Databases) -> tuple[WebServer, str]:
    """A web process with three workers of two threads, and its database."""
    database_url = module_databases.create()
    web = module_processes.web(
        environment(DATABASE_URL=database_url, WEB_CONCURRENCY="3", GUNICORN_THREADS="2")
    )
    return web, database_url


@pytest.fixture
def served(
    server: tuple[WebServer, str], request: pytest.FixtureRequest
) -> tuple[WebServer, str, dict[str, str]]:
    """The server, its database, and the headers of a reader of the test's own."""
    web, database_url = server
    email = f"{request.node.name[:40]}@example.com"
    web.sign_up(email)
    token = web.tokens(email)["access_token"]
    return web, database_url, {"Authorization": f"Bearer {token}"}


def test_concurrent_creates_with_one_key_make_one_book(
    served: tuple[WebServer, str, dict[str, str]],
) -> None:
    web, _, headers = served
    keyed = {**headers, "Idempotency-Key": "one-order"}
    body: dict[str, Any] = {"title": "Dune", "author": "Frank Herbert"}

    replies = all_at_once(lambda _: web.request("POST", BOOKS, json_body=body, headers=keyed))

    assert {reply.status for reply in replies} <= {201, 409}, [r.body for r in replies]
    created = [reply for reply in replies if reply.status == 201]
    assert created, "at least the first request is answered 201"
    assert len({reply.body for reply in created}) == 1  # the stored answer, whoever got it
    assert sum("idempotent-replayed" not in reply.headers for reply in created) <= 1
    assert web.request("GET", BOOKS, headers=headers).json()["total"] == 1
    # Once the first has answered, a retry gets the stored answer again.
    retry = web.request("POST", BOOKS, json_body=body, headers=keyed)
    assert retry.status == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.body == created[0].body


def test_concurrent_exports_with_one_key_start_one_job(
    served: tuple[WebServer, str, dict[str, str]],
) -> None:
    web, database_url, headers = served
    keyed = {**headers, "Idempotency-Key": "one-export"}

    replies = all_at_once(
        lambda _: web.request("POST", f"{BOOKS}/exports", json_body={}, headers=keyed)
    )

    assert {reply.status for reply in replies} <= {202, 409}, [r.body for r in replies]
    assert len({reply.json()["id"] for reply in replies if reply.status == 202}) == 1
    with session(database_url) as opened:
        assert opened.scalar(select(func.count()).select_from(Job)) == 1


def test_racing_writers_with_one_if_match_end_with_one_success(
    served: tuple[WebServer, str, dict[str, str]],
) -> None:
    web, _, headers = served
    created = web.request(
        "POST", BOOKS, json_body={"title": "Original", "author": "A"}, headers=headers
    )
    url, etag = created.headers["location"], created.headers["etag"]
    conditional = {**headers, "If-Match": etag}

    replies = all_at_once(
        lambda client: web.request(
            "PATCH", url, json_body={"title": f"Writer {client}"}, headers=conditional
        )
    )

    statuses = sorted(reply.status for reply in replies)
    assert statuses == [200] + [412] * (CLIENTS - 1), [r.body for r in replies]
    winner = next(reply for reply in replies if reply.status == 200)
    stored = web.request("GET", url, headers=headers)
    assert stored.json()["title"] == winner.json()["title"]
    assert stored.headers["etag"] == winner.headers["etag"] != etag
