"""Admins list and manage accounts; everyone else is kept out."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import SignUp


def test_admins_page_through_users(client: FlaskClient, sign_up: SignUp) -> None:
    admin = sign_up(admin=True)
    for _ in range(3):
        sign_up()
    first = client.get("/api/v1/users?page=1&page_size=2", headers=admin.headers)
    assert first.status_code == 200
    body = first.get_json()
    assert body["total"] == 4
    assert body["page"] == 1
    assert body["page_size"] == 2
    assert body["items"][0]["email"] == admin.email
    assert 'rel="next"' in first.headers["Link"]
    last = client.get("/api/v1/users?page=2&page_size=2", headers=admin.headers).get_json()
    assert len(last["items"]) == 2


def test_a_plain_user_cannot_list_or_change_accounts(client: FlaskClient, sign_up: SignUp) -> None:
    user = sign_up()
    listing = client.get("/api/v1/users", headers=user.headers)
    assert listing.status_code == 403
    assert listing.content_type == "application/problem+json"
    promote = client.patch(f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=user.headers)
    assert promote.status_code == 403


def test_an_admin_promotes_and_deactivates(client: FlaskClient, sign_up: SignUp) -> None:
    admin = sign_up(admin=True)
    user = sign_up()
    promoted = client.patch(
        f"/api/v1/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert promoted.status_code == 200
    assert promoted.get_json()["role"] == "admin"
    # The role is read from the account on every request, so it applies at once.
    assert client.get("/api/v1/users", headers=user.headers).status_code == 200

    deactivated = client.patch(
        f"/api/v1/users/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert deactivated.get_json()["is_active"] is False
    assert client.get("/api/v1/users/me", headers=user.headers).status_code == 401
    login = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "correct horse battery staple"}
    )
    assert login.status_code == 401


def test_admin_changes_are_validated(client: FlaskClient, sign_up: SignUp) -> None:
    admin = sign_up(admin=True)
    user = sign_up()
    for bad in ({"role": "root"}, {"is_active": "false"}, {"is_active": 0}, {"email": "x@y.z"}):
        response = client.patch(f"/api/v1/users/{user.id}", json=bad, headers=admin.headers)
        assert response.status_code == 422, bad
    missing = client.patch("/api/v1/users/999999", json={"role": "admin"}, headers=admin.headers)
    assert missing.status_code == 404


def test_page_size_is_bounded(client: FlaskClient, sign_up: SignUp) -> None:
    admin = sign_up(admin=True)
    for query in ("page=0", "page_size=0", "page_size=101", "page=abc"):
        response = client.get(f"/api/v1/users?{query}", headers=admin.headers)
        assert response.status_code == 422, query
        assert "query" in response.get_json()["errors"]
