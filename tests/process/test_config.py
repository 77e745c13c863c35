"""III. Config: the same code, started with a different environment, behaves differently.

Two web processes run side by side from the same checkout. Their environments differ only in
LOG_LEVEL, JWT_ACCESS_TOKEN_EXPIRES and DATABASE_URL (and the port each listens on); every
difference a test sees comes from those variables.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

import pytest

from tests.process.conftest import (
    Databases,
    Processes,
    WebServer,
    ecs_field,
    environment,
    jwt_claims,
    wait_until,
)

pytestmark = pytest.mark.no_shared_db

QUIET_LIFETIME = 120  # JWT_ACCESS_TOKEN_EXPIRES of the second server; the first has the default
DEFAULT_LIFETIME = 900
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


@dataclass
class Pair:
    verbose: WebServer  # LOG_LEVEL=INFO, JWT_ACCESS_TOKEN_EXPIRES unset, database one
    quiet: WebServer  # LOG_LEVEL=WARNING, JWT_ACCESS_TOKEN_EXPIRES=120, database two


@pytest.fixture(scope="module")
def pair(module_processes: Processes, module_databases: Databases) -> Pair:
    verbose = module_processes.start_web(
        environment(DATABASE_URL=module_databases.create(), LOG_LEVEL="INFO"), "web-verbose"
    )
    quiet = module_processes.start_web(
        environment(
            DATABASE_URL=module_databases.create(),
            LOG_LEVEL="WARNING",
            JWT_ACCESS_TOKEN_EXPIRES=str(QUIET_LIFETIME),
        ),
        "web-quiet",
    )
    verbose.wait_ready()
    quiet.wait_ready()
    return Pair(verbose, quiet)


def unique_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def events_of_request(server: WebServer, request_id: str) -> list[dict[str, object]]:
    return [e for e in server.process.events() if ecs_field(e, "http.request.id") == request_id]


def provoke_warning(server: WebServer, request_id: str) -> None:
    """Present a spent refresh token: the server logs a WARNING event for this request."""
    email = unique_email()
    server.sign_up(email)
    refresh = {"refresh_token": server.tokens(email)["refresh_token"]}
    assert server.request("POST", "/api/v1/auth/refresh", json_body=refresh).status == 200
    reused = server.request(
        "POST", "/api/v1/auth/refresh", json_body=refresh, headers={"X-Request-ID": request_id}
    )
    assert reused.status == 401


def logged_a_warning(server: WebServer, request_id: str) -> bool:
    return any(e["log.level"] == "warning" for e in events_of_request(server, request_id))


def test_log_level_decides_which_request_events_are_written(pair: Pair) -> None:
    for server in (pair.verbose, pair.quiet):
        request_id = f"config-{uuid.uuid4().hex}"
        for path in ("/livez", "/no-such-page"):
            server.request("GET", path, headers={"X-Request-ID": request_id})
        warned_id = f"warned-{uuid.uuid4().hex}"
        provoke_warning(server, warned_id)
        # The WARNING event is written after the access events, so once it is there, they are.
        wait_until(
            f"{server.process.name} logs the refresh reuse",
            functools.partial(logged_a_warning, server, warned_id),
            show=(server.process,),
        )
        access = [
            (ecs_field(e, "url.path"), ecs_field(e, "http.response.status_code"))
            for e in events_of_request(server, request_id)
        ]
        if server is pair.verbose:
            assert access == [("/livez", 200), ("/no-such-page", 404)]
        else:
            assert access == []


def test_log_level_is_the_minimum_level_of_every_event(pair: Pair) -> None:
    below = [
        (e["log.level"], e["log"], e["message"])
        for e in pair.quiet.process.events()
        if LEVELS[str(e["log.level"])] < LEVELS["warning"]
    ]
    assert below == []


def test_the_access_token_lifetime_comes_from_the_environment(pair: Pair) -> None:
    for server, lifetime in ((pair.verbose, DEFAULT_LIFETIME), (pair.quiet, QUIET_LIFETIME)):
        email = unique_email()
        server.sign_up(email)
        tokens = server.tokens(email)
        assert tokens["expires_in"] == lifetime
        claims = jwt_claims(tokens["access_token"])
        assert claims["exp"] - claims["iat"] == lifetime


def test_each_database_url_holds_its_own_users(pair: Pair) -> None:
    email = unique_email()
    pair.verbose.sign_up(email)
    assert pair.verbose.log_in(email).status == 200
    assert pair.quiet.log_in(email).status == 401
    # The address is free on the other database: a new account, not a 409.
    pair.quiet.sign_up(email, name="Someone Else")
    assert pair.quiet.log_in(email).status == 200
    assert pair.verbose.tokens(email)["access_token"] != pair.quiet.tokens(email)["access_token"]
