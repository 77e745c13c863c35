"""Two app instances on one database agree on revocation: nothing lives in process memory."""

from __future__ import annotations

from flask.testing import FlaskClient

from app import create_app
from tests.conftest import PASSWORD, SignUp, make_settings


def test_a_token_revoked_through_one_instance_is_refused_by_another(
    database_url: str, client: FlaskClient, sign_up: SignUp
) -> None:
    other = create_app(make_settings(database_url=database_url)).test_client()
    account = sign_up()
    assert other.get("/api/v1/users/me", headers=account.headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=account.headers).status_code == 204
    assert other.get("/api/v1/users/me", headers=account.headers).status_code == 401
    refreshed = other.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert refreshed.status_code == 401


def test_refresh_reuse_is_detected_across_instances(
    database_url: str, client: FlaskClient, sign_up: SignUp
) -> None:
    other = create_app(make_settings(database_url=database_url)).test_client()
    account = sign_up()
    body = {"refresh_token": account.refresh_token}
    assert client.post("/api/v1/auth/refresh", json=body).status_code == 200
    assert other.post("/api/v1/auth/refresh", json=body).status_code == 401


def test_unconfigured_development_processes_accept_each_others_tokens(
    database_url: str, sign_up: SignUp
) -> None:
    """gunicorn workers of `make run` each build an app; without configured secrets they
    must still agree on the signing key."""
    workers = [
        create_app(
            make_settings(database_url=database_url, secret_key=None, jwt_secret_key=None)
        ).test_client()
        for _ in range(2)
    ]
    signed = (
        workers[0]
        .post("/api/v1/auth/login", json={"email": sign_up().email, "password": PASSWORD})
        .get_json()
    )
    me = workers[1].get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {signed['access_token']}"}
    )
    assert me.status_code == 200
