"""A client on a bad network retries its creates with an Idempotency-Key, and nothing happens
twice: the retry gets the first answer again, marked as a replay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app import create_app
from app.books import service
from app.books.models import Book
from app.core.extensions import db, utcnow
from app.core.idempotency import IdempotencyKey
from app.core.outbox import OutboxMessage
from app.jobs.models import Job
from tests.books.conftest import BOOKS
from tests.conftest import Account, SignUp, make_settings

DUNE = {"title": "Dune", "author": "Frank Herbert"}


def keyed(account: Account, key: str) -> dict[str, str]:
    return {**account.headers, "Idempotency-Key": key}


def count(app: Flask, model: type[object], *where: object) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)))  # type: ignore[arg-type]


def test_a_retried_create_gets_the_first_answer_and_makes_one_book(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    first = client.post(BOOKS, json=DUNE, headers=keyed(reader, "order-1"))
    again = client.post(BOOKS, json=DUNE, headers=keyed(reader, "order-1"))

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(app, Book, Book.owner_id == reader.id) == 1


def test_the_same_document_with_other_spacing_and_key_order_is_the_same_request(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    headers = {**keyed(reader, "k"), "Content-Type": "application/json"}
    client.post(BOOKS, data='{"title": "Dune", "author": "Frank Herbert"}', headers=headers)
    again = client.post(BOOKS, data='{"author":"Frank Herbert","title":"Dune"}', headers=headers)

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, Book, Book.owner_id == reader.id) == 1


def test_a_key_reused_for_another_body_is_refused_and_nothing_is_created(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))
    reused = client.post(BOOKS, json={**DUNE, "title": "Emma"}, headers=keyed(reader, "k"))

    assert reused.status_code == 422
    assert reused.mimetype == "application/problem+json"
    assert "Idempotency-Key" in reused.get_json()["errors"]["headers"]
    assert count(app, Book, Book.owner_id == reader.id) == 1


def test_keys_belong_to_their_user_and_operation(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    alice, bob = sign_up(), sign_up()
    for_alice = client.post(BOOKS, json=DUNE, headers=keyed(alice, "same"))
    for_bob = client.post(BOOKS, json=DUNE, headers=keyed(bob, "same"))
    export = client.post(f"{BOOKS}/exports", json={}, headers=keyed(alice, "same"))

    assert for_bob.status_code == 201
    assert "Idempotent-Replayed" not in for_bob.headers
    assert for_bob.get_json()["id"] != for_alice.get_json()["id"]
    assert export.status_code == 202
    assert "Idempotent-Replayed" not in export.headers


def test_a_retried_export_starts_one_job_and_sends_one_message(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    first = client.post(f"{BOOKS}/exports", json={"format": "csv"}, headers=keyed(reader, "x"))
    again = client.post(f"{BOOKS}/exports", json={"format": "csv"}, headers=keyed(reader, "x"))

    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert count(app, Job, Job.owner_id == reader.id) == 1
    assert count(app, OutboxMessage, OutboxMessage.task_id == first.get_json()["id"]) == 1


def test_a_refused_body_is_the_stored_answer_too(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    refused = client.post(BOOKS, json={"title": ""}, headers=keyed(reader, "bad"))
    again = client.post(BOOKS, json={"title": ""}, headers=keyed(reader, "bad"))

    assert refused.status_code == again.status_code == 422
    assert again.get_json()["errors"] == refused.get_json()["errors"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, Book, Book.owner_id == reader.id) == 0


def test_a_server_error_frees_the_key_for_the_retry(
    app: Flask, client: FlaskClient, sign_up: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = sign_up()
    create_book = service.create_book

    def fail_once(*args: object, **kwargs: object) -> Book:
        monkeypatch.setattr(service, "create_book", create_book)
        db.session.flush()
        raise RuntimeError("a bug on the first try")

    monkeypatch.setattr(service, "create_book", fail_once)
    app.testing = False  # answer the bug as a client sees it: a 500
    try:
        failed = client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))
        retried = client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))
    finally:
        app.testing = True

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    assert count(app, Book, Book.owner_id == reader.id) == 1


def test_a_repeat_while_the_first_still_runs_is_a_conflict(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    """The first request's work is committed with its key; its answer is recorded just after.
    A repeat arriving in between must neither wait forever nor run again."""
    reader = sign_up()
    client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))
    with app.app_context():
        db.session.execute(update(IdempotencyKey).values(status=None, body=None, headers=None))
        db.session.commit()

    repeat = client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))

    assert repeat.status_code == 409
    assert repeat.mimetype == "application/problem+json"
    assert "still being processed" in repeat.get_json()["detail"]
    assert count(app, Book, Book.owner_id == reader.id) == 1


def expire(app: Flask, key: str) -> None:
    with app.app_context():
        db.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def test_an_expired_key_is_free_again_and_beat_purges_it(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))
    client.post(BOOKS, json=DUNE, headers=keyed(reader, "old"))
    expire(app, "k")

    after_expiry = client.post(BOOKS, json={**DUNE, "title": "Other"}, headers=keyed(reader, "k"))
    assert after_expiry.status_code == 201, after_expiry.get_json()
    assert "Idempotent-Replayed" not in after_expiry.headers
    assert count(app, Book, Book.owner_id == reader.id) == 3

    expire(app, "old")
    celery = app.extensions["celery"]
    assert "purge-expired-idempotency-keys" in celery.conf.beat_schedule
    celery.loader.import_default_modules()  # as a worker does
    assert celery.tasks["app.core.idempotency.purge_expired_idempotency_keys"].apply().get() == 1
    with app.app_context():
        kept = db.session.scalars(select(IdempotencyKey.key)).all()
    assert kept == ["k"]  # the live key, taken again after its expiry


def test_a_key_longer_than_255_characters_is_refused(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    refused = client.post(BOOKS, json=DUNE, headers=keyed(reader, "k" * 256))
    assert refused.status_code == 422
    assert "Idempotency-Key" in refused.get_json()["errors"]["headers"]


@pytest.fixture
def strict_client(database_url: str) -> FlaskClient:
    """An app with IDEMPOTENCY_KEY_REQUIRED, on the suite's database."""
    return create_app(
        make_settings(database_url=database_url, idempotency_key_required=True)
    ).test_client()


def test_a_required_key_that_is_missing_is_named_in_a_400(
    app: Flask, strict_client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    missing = strict_client.post(BOOKS, json=DUNE, headers=reader.headers)
    sent = strict_client.post(BOOKS, json=DUNE, headers=keyed(reader, "k"))

    assert missing.status_code == 400
    assert missing.mimetype == "application/problem+json"
    assert "Idempotency-Key" in missing.get_json()["detail"]
    assert sent.status_code == 201
    assert count(app, Book, Book.owner_id == reader.id) == 1


def test_the_document_declares_the_key_and_its_answers(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    for path, status in ((BOOKS, "201"), (f"{BOOKS}/exports", "202")):
        operation = document["paths"][path]["post"]
        assert {"in": "header", "name": "Idempotency-Key"}.items() <= next(
            p for p in operation["parameters"] if p["name"] == "Idempotency-Key"
        ).items()
        assert "Idempotent-Replayed" in operation["responses"][status]["headers"]
        assert {"400", "409", "422"} <= operation["responses"].keys()


@pytest.mark.parametrize("key", [None, "deep"])
def test_a_body_nested_too_deep_to_parse_is_refused_not_a_server_error(
    client: FlaskClient, sign_up: SignUp, key: str | None
) -> None:
    reader = sign_up()
    headers = keyed(reader, key) if key else reader.headers
    nested = "[" * 100_000 + "]" * 100_000
    refused = client.post(
        BOOKS, data=nested, headers={**headers, "Content-Type": "application/json"}
    )

    assert refused.status_code == 400
    assert refused.content_type == "application/problem+json"
    assert "nested too deeply" in refused.get_json()["detail"]
