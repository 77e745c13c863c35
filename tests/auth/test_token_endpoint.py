"""The OAuth2 password grant that Swagger UI's Authorize dialog speaks (RFC 6749 §4.3, §5.2)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, SignUp

TOKEN = "/api/v1/auth/token"


def test_the_password_grant_issues_a_working_token(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    response = client.post(
        TOKEN, data={"grant_type": "password", "username": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/users/me", headers=headers).get_json()["email"] == account.email


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {"grant_type": "password", "username": "u@example.com", "password": "nope-nope"},
            "invalid_grant",
        ),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"username": "u@example.com", "password": "x"}, "invalid_request"),
        ({"grant_type": "password", "username": "u@example.com"}, "invalid_request"),
    ],
)
def test_errors_follow_rfc_6749(client: FlaskClient, form: dict[str, str], error: str) -> None:
    response = client.post(TOKEN, data=form)
    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def test_json_instead_of_a_form_is_an_invalid_request(client: FlaskClient) -> None:
    response = client.post(TOKEN, json={"grant_type": "password", "username": "a", "password": "b"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
