"""The document tells clients which operations need a token, and how to get one."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"oauth2": []}]


def operations(client: FlaskClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = client.get("/openapi.json").get_json()
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_security_schemes_offer_bearer_and_the_password_flow(client: FlaskClient) -> None:
    schemes = client.get("/openapi.json").get_json()["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


def test_every_operation_declares_its_security(client: FlaskClient) -> None:
    for method, path, operation in operations(client):
        assert "security" in operation, f"{method} {path} says nothing about security"
        assert operation["security"] in ([], SECURED), f"{method} {path}"


def test_protected_operations_document_401_and_admin_ones_403(client: FlaskClient) -> None:
    protected = [(m, p, o) for m, p, o in operations(client) if o["security"]]
    assert len(protected) >= 5
    for method, path, operation in protected:
        assert "401" in operation["responses"], f"{method} {path}"
    admin_only = [("GET", "/api/v1/users"), ("PATCH", "/api/v1/users/{user_id}")]
    documented = {(m, p): o for m, p, o in protected}
    for key in admin_only:
        assert "403" in documented[key]["responses"], key


def test_public_operations_are_the_expected_ones(client: FlaskClient) -> None:
    public = {(m, p) for m, p, o in operations(client) if o["security"] == []}
    assert public == {
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/version"),
        ("POST", "/api/v1/auth/signup"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/password-reset"),
        ("POST", "/api/v1/auth/password-reset/confirm"),
        ("POST", "/api/v1/auth/verify-email"),
    }
