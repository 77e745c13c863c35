"""A token signed with the right key is still refused when it lacks what makes it a token
of this service: its type, its subject, or its times."""

from __future__ import annotations

import jwt
import pytest
from flask.testing import FlaskClient

from tests.conftest import TEST_SECRET, SignUp

ME = "/api/v1/users/me"


@pytest.mark.parametrize("claim", ["type", "sub", "exp", "iat", "nbf"])
def test_a_genuine_token_missing_a_claim_is_refused(
    client: FlaskClient, sign_up: SignUp, claim: str
) -> None:
    claims = jwt.decode(sign_up().access_token, options={"verify_signature": False})
    del claims[claim]
    token = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_bearer_scheme_is_case_insensitive(client: FlaskClient, sign_up: SignUp) -> None:
    token = sign_up().access_token
    assert client.get(ME, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_a_refresh_token_at_an_api_says_what_is_wrong(client: FlaskClient, sign_up: SignUp) -> None:
    response = client.get(ME, headers={"Authorization": f"Bearer {sign_up().refresh_token}"})
    assert response.status_code == 401
    assert response.json is not None
    assert "refresh token" in response.json["detail"]
