"""Every error a client can meet is RFC 9457 problem+json, and a 500 leaks nothing."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import DataError, IntegrityError

from app import create_app
from tests.conftest import SignUp, make_settings

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


def raising_app(error: Exception) -> Flask:
    """An app with a test-only route, /raise, whose view fails with ``error``."""
    app = create_app(make_settings(database_url="sqlite://"))

    @app.route("/raise", methods=["GET", "POST"])
    def fail() -> str:
        raise error

    return app


@pytest.mark.no_shared_db
def test_unhandled_exception_is_a_500_problem_that_hides_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = raising_app(RuntimeError("database password is hunter2"))
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/raise", headers={"X-Request-ID": "req-500"})
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


# --- bodies the API cannot read: the same answers on every endpoint -----------------------

BODY_ENDPOINTS = ["/api/v1/books", "/api/v1/auth/signup", "/api/v1/users/me"]


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_malformed_json_is_a_400_problem(client: FlaskClient, sign_up: SignUp, path: str) -> None:
    account = sign_up()
    method = "PATCH" if path.endswith("/me") else "POST"
    for body in (b"{", b'{"title": "Dune",}', b"\xff\xfe", b"{'a': 1}"):
        response = client.open(
            path, method=method, data=body, content_type="application/json", headers=account.headers
        )
        assert response.status_code == 400, body
        assert response.content_type == "application/problem+json"
        assert response.get_json()["detail"] == "The request body is not valid JSON."


@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_a_body_in_another_media_type_is_a_415_problem(
    client: FlaskClient, sign_up: SignUp, path: str
) -> None:
    """Without this, the body would be ignored and the request answered as if empty."""
    account = sign_up()
    method = "PATCH" if path.endswith("/me") else "POST"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/json", None):
        headers = {**account.headers, **({"Content-Type": content_type} if content_type else {})}
        response = client.open(
            path, method=method, data=b'{"title": "Dune", "author": "Herbert"}', headers=headers
        )
        assert response.status_code == 415, content_type
        assert response.content_type == "application/problem+json"
        assert response.get_json()["detail"] == "Send the body as application/json."


def test_json_with_a_charset_is_json(client: FlaskClient, sign_up: SignUp) -> None:
    response = client.post(
        "/api/v1/books",
        data=b'{"title": "Dune", "author": "Herbert"}',
        content_type="application/json; charset=utf-8",
        headers=sign_up().headers,
    )
    assert response.status_code == 201


def test_a_body_over_the_limit_is_a_413_problem(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    body = b'{"title": "' + b"x" * 1024 * 1024 + b'", "author": "y"}'
    response = client.post(
        "/api/v1/books", data=body, content_type="application/json", headers=account.headers
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == "The request body is larger than 1048576 bytes."
    assert response.headers["X-Request-ID"] == response.get_json()["request_id"]


class Unreadable(io.RawIOBase):
    """A 50 MiB request body (so the Content-Length says) that fails the test if read."""

    size = 50 * 1024 * 1024
    position = 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = self.size if whence == io.SEEK_END else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: Any) -> int:
        raise AssertionError("the body was read")


@pytest.mark.parametrize("path", ["/api/v1/books", "/api/v1/auth/login", "/livez"])
def test_the_limit_is_enforced_from_content_length_without_reading(
    client: FlaskClient, path: str
) -> None:
    response = client.post(path, input_stream=Unreadable(), content_type="application/json")
    assert response.request.content_length == Unreadable.size
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


@pytest.mark.no_shared_db
def test_the_limit_follows_the_setting() -> None:
    app = create_app(make_settings(database_url="sqlite://", max_content_length=16))
    response = app.test_client().post("/api/v1/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 413


@pytest.mark.no_shared_db
def test_an_unchecked_integrity_error_is_a_409_problem_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = raising_app(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: t.email")))
    with caplog.at_level(logging.WARNING):
        response = app.test_client().post("/raise")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["detail"] == "The request conflicts with data already stored."
    assert "UNIQUE constraint failed: t.email" in caplog.text


# --- the document lists the errors each operation can return -------------------------------

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def test_every_operation_documents_its_error_responses(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) >= 17
    for path, method, operation in operations:
        expected = {"413", "500"}
        if "requestBody" in operation:
            expected |= {"400", "422"}
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            expected.add("415")
        if "{" in path:
            expected.add("404")
        if operation.get("security"):
            expected.add("401")
        responses = operation["responses"]
        assert expected <= responses.keys(), (method, path)
        for status in expected:
            if path == "/api/v1/auth/token" and status == "400":
                continue  # RFC 6749's own error format, documented by the view
            component = responses[status]["$ref"].removeprefix("#/components/responses/")
            content = spec["components"]["responses"][component]["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_rule_specific_errors_are_documented_where_they_apply(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "409" in paths["/api/v1/books"]["post"]["responses"]
    assert "409" in paths["/api/v1/books/{book_id}"]["patch"]["responses"]
    assert "409" not in paths["/api/v1/auth/signup"]["post"]["responses"]  # it would tell
    assert "429" in paths["/api/v1/auth/login"]["post"]["responses"]
    assert "403" in paths["/api/v1/users"]["get"]["responses"]
    assert "429" not in paths["/api/v1/books"]["get"]["responses"]
    assert "404" not in paths["/api/v1/books"]["get"]["responses"]
    assert "401" not in paths["/livez"]["get"]["responses"]
    # The OAuth2 token endpoint answers a wrong body per RFC 6749, not with a 415.
    assert "415" not in paths["/api/v1/auth/token"]["post"]["responses"]


@pytest.mark.no_shared_db
def test_a_value_the_database_cannot_store_is_a_422_not_a_500() -> None:
    app = raising_app(DataError("INSERT", {}, Exception("value too long for type character(13)")))
    response = app.test_client().get("/raise")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert b"character(13)" not in response.data
