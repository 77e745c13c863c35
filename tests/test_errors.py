"""Every error a client can meet is RFC 9457 problem+json, and a 500 leaks nothing."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from tests.conftest import make_settings

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance", "request_id"}


def test_unknown_route_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    body = response.json
    assert body is not None
    assert body.keys() >= PROBLEM_MEMBERS
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/thing"
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_wrong_method_is_a_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.delete("/livez")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    assert response.json is not None
    assert response.json["title"] == "Method Not Allowed"


@pytest.fixture
def crashing_app() -> Flask:
    app = create_app(make_settings(database_url="sqlite://"))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("database password is hunter2")

    return app


@pytest.mark.no_shared_db
def test_unhandled_exception_is_a_500_problem_that_hides_the_text(
    crashing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = crashing_app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert b"hunter2" not in response.data
    assert response.json is not None
    assert response.json["detail"] == "Internal Server Error"
    assert response.json["request_id"] == "req-500"
    # The operator, not the client, gets the exception, tagged with the request id.
    logged = [r for r in caplog.records if r.exc_info]
    assert logged, "the exception was not logged"
    assert "hunter2" in str(logged[0].exc_info[1])  # type: ignore[index]
    assert logged[0].__dict__["http.request.id"] == "req-500"
