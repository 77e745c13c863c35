"""Client developers generate code from the document: named operations, exact types, and every
header the server sends where a client needs it. (tests/test_contract.py keeps it committed.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from app import EXPOSED_HEADERS, create_app
from app.core.extensions import limiter
from app.core.openapi import OperationConventions, operation_id
from tests.conftest import SignUp, make_settings

pytestmark = pytest.mark.embedded_only

DOCUMENT: dict[str, Any] = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
METHODS = {"get", "put", "post", "delete", "patch"}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = DOCUMENT["components"][section][name]
    return node


def schema_of(method: str, path: str, status: str) -> dict[str, Any]:
    response = resolve(DOCUMENT["paths"][path][method]["responses"][status])
    return resolve(response["content"]["application/json"]["schema"])


def test_every_operation_has_a_unique_readable_id() -> None:
    ids = [operation.get("operationId") for _, _, operation in operations()]
    assert all(isinstance(name, str) and re.fullmatch(r"[a-z]+(_[a-z]+)*", name) for name in ids)
    assert len(set(ids)) == len(ids)
    named = {(method, path): operation["operationId"] for method, path, operation in operations()}
    assert named[("get", "/api/v1/books")] == "books_list"
    assert named[("post", "/api/v1/books")] == "books_create"
    assert named[("get", "/api/v1/books/{book_id}")] == "books_get"
    assert named[("patch", "/api/v1/books/{book_id}")] == "books_update"
    assert named[("delete", "/api/v1/books/{book_id}")] == "books_delete"
    assert named[("post", "/api/v1/auth/login")] == "auth_login"
    assert named[("get", "/api/v1/tasks/{job_id}")] == "tasks_get"


@pytest.mark.parametrize(
    ("blueprint", "method", "path", "expected"),
    [
        ("loans", "get", "/api/v1/loans", "loans_list"),  # `flask scaffold resource loans`
        ("loans", "put", "/api/v1/loans/{item_id}", "loans_replace"),
        ("loans", "post", "/api/v1/loans/{item_id}/return", "loans_return"),
        ("users", "delete", "/api/v1/users/me", "users_me_delete"),
        ("health", "get", "/livez", "health_livez"),
    ],
)
def test_ids_come_from_the_blueprint_and_the_path(
    blueprint: str, method: str, path: str, expected: str
) -> None:
    assert operation_id(blueprint, path, method) == expected


def test_two_operations_with_one_id_stop_the_document() -> None:
    conventions = OperationConventions()
    operation = {"responses": {"200": {"description": "OK"}}}
    conventions.operation_helper(
        "/a", {"get": dict(operation, operationId="same")}, rule=Rule("/a", endpoint="x.A")
    )
    with pytest.raises(ValueError, match="'same' of GET /b is taken by GET /a"):
        conventions.operation_helper(
            "/b", {"get": dict(operation, operationId="same")}, rule=Rule("/b", endpoint="x.B")
        )


def test_every_operation_says_what_it_does() -> None:
    for method, path, operation in operations():
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)


def test_every_field_a_response_sends_is_required_and_typed(
    client: FlaskClient, sign_up: SignUp
) -> None:
    """What the server always sends, a generated client must not type as optional."""
    reader = sign_up()
    book = client.post(
        "/api/v1/books", json={"title": "T", "author": "A"}, headers=reader.headers
    ).get_json()
    job = client.post("/api/v1/books/exports", headers=reader.headers).get_json()
    me = client.get("/api/v1/users/me", headers=reader.headers).get_json()
    page = client.get("/api/v1/books", headers=reader.headers).get_json()
    sent = {
        ("post", "/api/v1/books", "201"): book,
        ("post", "/api/v1/books/exports", "202"): job,
        ("get", "/api/v1/users/me", "200"): me,
        ("get", "/api/v1/books", "200"): page,
    }
    for (method, path, status), body in sent.items():
        schema = schema_of(method, path, status)
        assert set(schema["required"]) == set(body) == set(schema["properties"]), path
    book_schema = schema_of("get", "/api/v1/books/{book_id}", "200")
    assert book_schema["properties"]["id"]["type"] == "integer"
    assert book_schema["properties"]["isbn"]["type"] == ["string", "null"]  # null when unset
    assert schema_of("post", "/api/v1/books/exports", "202")["properties"]["id"]["format"] == (
        "uuid"
    )


def test_what_a_client_sends_holds_only_what_it_may_set() -> None:
    read_only = {"id", "owner_id", "created_at", "updated_at"}
    for method, path in (("post", "/api/v1/books"), ("patch", "/api/v1/books/{book_id}")):
        body = DOCUMENT["paths"][path][method]["requestBody"]["content"]["application/json"]
        properties = resolve(body["schema"])["properties"]
        assert properties, (method, path)
        assert not read_only & set(properties), (method, path)


def request_strings() -> Iterator[tuple[str, dict[str, Any]]]:
    for method, path, operation in operations():
        schemas = [p["schema"] for p in operation.get("parameters", [])]
        for parameter in DOCUMENT["paths"][path].get("parameters", []):
            schemas.append(parameter["schema"])
        for media in operation.get("requestBody", {}).get("content", {}).values():
            schema = resolve(media["schema"])
            schemas += [resolve(field) for field in schema.get("properties", {}).values()]
            for field in schema.get("properties", {}).values():  # nested (a password change)
                schemas += [resolve(f) for f in resolve(field).get("properties", {}).values()]
        for schema in schemas:
            types = schema.get("type")
            if types == "string" or (isinstance(types, list) and "string" in types):
                yield f"{method} {path}", schema


def test_every_request_string_has_a_length_limit() -> None:
    for where, schema in request_strings():
        assert "maxLength" in schema or "enum" in schema or "format" in schema, where


def test_every_component_is_used() -> None:
    text = json.dumps({key: value for key, value in DOCUMENT.items() if key != "components"})
    components = json.dumps(DOCUMENT["components"])
    for section, entries in DOCUMENT["components"].items():
        if section == "securitySchemes":
            continue  # referred to by name, not by $ref
        for name in entries:
            ref = f'"#/components/{section}/{name}"'
            assert ref in text or ref in components, ref


def test_the_document_names_its_server_and_licence() -> None:
    assert DOCUMENT["servers"] == [{"url": "/"}]
    assert DOCUMENT["info"]["description"]
    assert DOCUMENT["info"]["license"]["name"]


@pytest.fixture
def limited_app(database_url: str) -> Iterator[Flask]:
    app = create_app(
        make_settings(
            database_url=database_url,
            ratelimit_enabled=True,
            ratelimit_auth="2/minute",
            ratelimit_storage_uri="memory://",
            cors_origins=["https://app.example"],
        )
    )
    limiter.reset()
    yield app
    limiter.reset()


def documented_headers(method: str, path: str, status: str) -> set[str]:
    response = resolve(DOCUMENT["paths"][path][method]["responses"][status])
    return {name.lower() for name in response.get("headers", {})}


def test_the_headers_a_limited_operation_sends_are_documented_and_readable_in_a_browser(
    limited_app: Flask,
) -> None:
    client = limited_app.test_client()
    origin = {"Origin": "https://app.example"}
    login = {"email": "nobody@example.com", "password": "wrong password"}
    client.post("/api/v1/auth/login", json=login, headers=origin)
    client.post("/api/v1/auth/login", json=login, headers=origin)
    refused = client.post("/api/v1/auth/login", json=login, headers=origin)
    assert refused.status_code == 429
    exposed = {name.lower() for name in EXPOSED_HEADERS}
    assert set(refused.headers["Access-Control-Expose-Headers"].lower().split(", ")) == exposed
    # (The security headers are the browser's business, not a client's.)
    client_headers = re.compile(r"x-ratelimit-.*|x-request-id|retry-after")
    sent = {name.lower() for name, _ in refused.headers if client_headers.fullmatch(name.lower())}
    assert "retry-after" in sent
    assert sent <= documented_headers("post", "/api/v1/auth/login", "429") <= exposed
    rate_limit = {name for name in sent if name.startswith("x-ratelimit-")}
    assert len(rate_limit) == 3
    assert all(refused.headers[name].isdigit() for name in rate_limit)  # integers, as declared
    assert rate_limit <= documented_headers("post", "/api/v1/auth/login", "200")
    assert "retry-after" in documented_headers("get", "/readyz", "503")
    assert "location" in documented_headers("post", "/api/v1/books", "201")
    assert "link" in documented_headers("get", "/api/v1/books", "200")
    assert "link" in documented_headers("get", "/api/v1/users", "200")
    assert "x-request-id" in documented_headers("get", "/api/v1/books/{book_id}", "404")
