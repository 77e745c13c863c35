"""A user exports their books in the background and follows the job until it is done."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auth.models import User
from app.books.tasks import export_books
from app.core.extensions import db
from tests.conftest import PASSWORD, SignUp, Stack, wait_for

SHELF: list[dict[str, Any]] = [
    {"title": "Cien años de soledad", "author": "Gabriel García Márquez", "published_year": 1967},
    {"title": '=HYPERLINK("http://evil.example")', "author": "Mallory 😈"},
]


def export(client: FlaskClient, headers: dict[str, str], fmt: str) -> tuple[str, str]:
    started = client.post("/api/v1/books/exports", json={"format": fmt}, headers=headers)
    assert started.status_code == 202
    body = started.get_json()
    assert body["state"] in {"PENDING", "STARTED", "SUCCESS"}
    assert started.headers["Location"] == f"/api/v1/tasks/{body['id']}"
    return body["id"], started.headers["Location"]


def test_an_export_runs_after_the_request_and_shows_its_result(
    client: FlaskClient, sign_up: SignUp
) -> None:
    # Without a broker (the embedded default) the job runs in-process once the request commits.
    account = sign_up()
    for book in SHELF:
        assert client.post("/api/v1/books", json=book, headers=account.headers).status_code == 201
    _job_id, location = export(client, account.headers, "json")
    job = client.get(location, headers=account.headers).get_json()
    assert job["state"] == "SUCCESS"
    assert job["error"] is None
    assert job["result"]["count"] == 2
    titles = {book["title"] for book in job["result"]["books"]}
    assert titles == {book["title"] for book in SHELF}


def test_a_csv_export_keeps_unicode_and_defuses_formulas(
    client: FlaskClient, sign_up: SignUp
) -> None:
    account = sign_up()
    for book in SHELF:
        client.post("/api/v1/books", json=book, headers=account.headers)
    _job_id, location = export(client, account.headers, "csv")
    result = client.get(location, headers=account.headers).get_json()["result"]
    rows = list(csv.DictReader(io.StringIO(result["content"])))
    assert {row["author"] for row in rows} == {"Gabriel García Márquez", "Mallory 😈"}
    formula = next(row for row in rows if "HYPERLINK" in row["title"])
    assert formula["title"].startswith("'=")  # a spreadsheet shows it as text


def test_an_export_without_a_body_is_json(client: FlaskClient, sign_up: SignUp) -> None:
    account = sign_up()
    started = client.post("/api/v1/books/exports", headers=account.headers)
    assert started.status_code == 202
    job = client.get(started.headers["Location"], headers=account.headers).get_json()
    assert job["result"] == {"format": "json", "count": 0, "books": []}
    document = client.get("/openapi.json").get_json()
    assert document["paths"]["/api/v1/books/exports"]["post"]["requestBody"].get("required") in (
        None,
        False,
    )


def test_only_the_owner_sees_a_job(client: FlaskClient, sign_up: SignUp) -> None:
    owner, other, admin = sign_up(), sign_up(), sign_up(admin=True)
    _job_id, location = export(client, owner.headers, "json")
    assert client.get(location, headers=other.headers).status_code == 404
    assert client.get(location, headers=admin.headers).status_code == 404
    assert client.get(location).status_code == 401
    unknown = client.get(
        "/api/v1/tasks/00000000-0000-0000-0000-000000000000", headers=owner.headers
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize("body", [{"format": "xml"}, {"format": 1}, {"fmt": "csv"}])
def test_an_unknown_format_is_refused(
    client: FlaskClient, sign_up: SignUp, body: dict[str, Any]
) -> None:
    response = client.post("/api/v1/books/exports", json=body, headers=sign_up().headers)
    assert response.status_code == 422


def signed_in(stack: Stack, email: str) -> dict[str, str]:
    """Sign up on the worker's app and return the new account's auth headers."""
    credentials = {"email": email, "password": PASSWORD}
    signup = stack.client.post("/api/v1/auth/signup", json=credentials | {"name": "Ex"})
    assert signup.status_code == 202
    # On SQLite, a login (read, then write) that the welcome email's commit lands inside of is
    # refused as "database is locked": let the worker finish first.
    wait_for(lambda: welcomed(stack.app, email))
    tokens = stack.client.post("/api/v1/auth/login", json=credentials).get_json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def welcomed(app: Flask, email: str) -> bool:
    with app.app_context():
        return db.session.scalar(select(User.welcomed_at).where(User.email == email)) is not None


def test_an_export_through_a_real_worker(stack: Stack) -> None:
    headers = signed_in(stack, "exporter@example.com")
    stack.client.post("/api/v1/books", json=SHELF[0], headers=headers)
    _job_id, location = export(stack.client, headers, "json")

    def state() -> str:
        return str(stack.client.get(location, headers=headers).get_json()["state"])

    wait_for(lambda: state() == "SUCCESS")
    result = stack.client.get(location, headers=headers).get_json()["result"]
    assert result["books"][0]["title"] == SHELF[0]["title"]


def test_running_an_export_twice_changes_nothing(stack: Stack) -> None:
    headers = signed_in(stack, "twice-export@example.com")
    job_id, location = export(stack.client, headers, "json")
    wait_for(lambda: stack.client.get(location, headers=headers).get_json()["state"] == "SUCCESS")
    first = stack.client.get(location, headers=headers).get_json()
    stack.client.post("/api/v1/books", json=SHELF[1], headers=headers)  # changes what a rerun sees
    stack.celery.tasks[export_books.name].apply_async(args=[job_id])  # a redelivery
    # The one in-process worker runs tasks in order: once a later job is done, so is the rerun.
    _later, later_location = export(stack.client, headers, "json")
    wait_for(
        lambda: stack.client.get(later_location, headers=headers).get_json()["state"] == "SUCCESS"
    )
    assert stack.client.get(location, headers=headers).get_json()["result"] == first["result"]
    assert stack.client.get(later_location, headers=headers).get_json()["result"]["count"] == 1
