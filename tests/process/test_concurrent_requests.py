"""Many clients at once: every request gets a real answer, never a 5xx.

With the suite's database behind PgBouncer in transaction mode (`make test-matrix`), this is
the proof that the app is safe there: each transaction may land on another server connection,
which a prepared statement or session state would not survive. On SQLite (one writer at a
time) it proves that concurrent writers queue for the lock rather than fail.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.process.conftest import Databases, Processes, WebServer, environment

pytestmark = pytest.mark.no_shared_db

CLIENTS = 8
ROUNDS = 6  # each round: sign up, log in, create two books, list, read one, sign out


def one_client(web: WebServer, client: int) -> list[int]:
    statuses = []
    for round_ in range(ROUNDS):
        email = f"reader{client}-{round_}@example.com"
        statuses.append(
            web.request(
                "POST",
                "/api/v1/auth/signup",
                json_body={"email": email, "password": "correct horse battery", "name": "Reader"},
            ).status
        )
        login = web.log_in(email, "correct horse battery")
        statuses.append(login.status)
        if login.status != 200:
            continue
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for title in ("Dune", "Emma"):
            statuses.append(
                web.request(
                    "POST",
                    "/api/v1/books",
                    headers=headers,
                    json_body={"title": title, "author": "Someone"},
                ).status
            )
        listed = web.request("GET", "/api/v1/books?sort=title", headers=headers)
        statuses.append(listed.status)
        first = listed.json()["items"][0]["id"] if listed.status == 200 else 0
        statuses.append(web.request("GET", f"/api/v1/books/{first}", headers=headers).status)
        statuses.append(web.request("POST", "/api/v1/auth/logout", headers=headers).status)
    return statuses


def test_concurrent_clients_never_see_a_server_error(
    processes: Processes, databases: Databases
) -> None:
    env = environment(DATABASE_URL=databases.create(), WEB_CONCURRENCY="3", GUNICORN_THREADS="2")
    web = processes.web(env)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(lambda client: one_client(web, client), range(CLIENTS)))

    statuses = [status for result in results for status in result]
    assert [s for s in statuses if s >= 500] == [], web.process.tail()
    assert len(statuses) == CLIENTS * ROUNDS * 7
    assert set(statuses) <= {200, 201, 202, 204}, sorted(set(statuses))


def test_concurrent_sign_ups_with_one_address_all_get_the_same_answer(
    processes: Processes, databases: Databases
) -> None:
    """The losers of the race are answered as any sign-up with a taken address: a 202."""
    env = environment(DATABASE_URL=databases.create(), WEB_CONCURRENCY="3", GUNICORN_THREADS="2")
    web = processes.web(env)

    def sign_up(attempt: int) -> tuple[int, bytes]:
        reply = web.request(
            "POST",
            "/api/v1/auth/signup",
            json_body={"email": "race@example.com", "password": f"password {attempt}", "name": "R"},
        )
        return reply.status, reply.body

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        replies = list(pool.map(sign_up, range(CLIENTS)))

    assert {status for status, _ in replies} == {202}, web.process.tail()
    assert len({body for _, body in replies}) == 1
    logins = [web.log_in("race@example.com", f"password {n}").status for n in range(CLIENTS)]
    assert sorted(logins) == [200] + [401] * (CLIENTS - 1)
