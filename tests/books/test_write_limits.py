"""Each user's writes are limited, and a job-starting operation more tightly; an eager client
is told when to come back, and nobody else notices."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from app.core.extensions import db
from app.jobs.models import Job
from tests.conftest import SignUp

EXPORTS = "/api/v1/books/exports"


def jobs_of(app: Flask, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(Job.owner_id == user_id)) or 0


def test_a_hundred_exports_in_a_minute_start_no_more_jobs_than_the_limit(
    limited_app: Flask, sign_up: SignUp
) -> None:
    eager, other = sign_up(), sign_up()
    client = limited_app.test_client()
    statuses = [client.post(EXPORTS, headers=eager.headers).status_code for _ in range(100)]

    assert statuses[:3] == [202, 202, 202]
    assert set(statuses[3:]) == {429}
    assert jobs_of(limited_app, eager.id) == 3
    refused = client.post(EXPORTS, headers=eager.headers)
    assert refused.content_type == "application/problem+json"
    assert 0 < int(refused.headers["Retry-After"]) <= 60

    assert client.post(EXPORTS, headers=other.headers).status_code == 202
    assert jobs_of(limited_app, other.id) == 1


def test_all_writes_of_a_user_share_one_budget(limited_app: Flask, sign_up: SignUp) -> None:
    eager, other = sign_up(), sign_up()
    client = limited_app.test_client()
    book = {"title": "Dune", "author": "Frank Herbert"}
    created = client.post("/api/v1/books", json=book, headers=eager.headers)
    assert created.status_code == 201
    location = created.headers["Location"]
    for _ in range(7):
        edited = client.patch(location, json={"title": "Dune"}, headers=eager.headers)
        assert edited.status_code == 200

    refused = client.delete(location, headers=eager.headers)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    # Reading is not a write, and the book is still there.
    assert client.get(location, headers=eager.headers).status_code == 200
    assert client.post("/api/v1/books", json=book, headers=other.headers).status_code == 201


def test_a_request_without_a_valid_token_spends_no_ones_budget(
    limited_app: Flask, sign_up: SignUp
) -> None:
    account = sign_up()
    client = limited_app.test_client()
    forged = {"Authorization": "Bearer not-a-token"}
    assert {client.post(EXPORTS, headers=forged).status_code for _ in range(10)} == {401}
    assert client.post(EXPORTS, headers=account.headers).status_code == 202


def test_every_authenticated_write_declares_its_429(limited_app: Flask) -> None:
    document = limited_app.test_client().get("/openapi.json").get_json()
    writes = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch", "delete"} and operation.get("security")
    ]
    assert len(writes) >= 8
    for path, method, operation in writes:
        assert "429" in operation["responses"], (method, path)
