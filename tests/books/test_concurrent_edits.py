"""Two people edit the same book: each change names the version it was made on (If-Match),
and the second one made on a version that is gone is refused instead of overwriting the first.
A client polling a book it has gets 304 until it changes."""

from __future__ import annotations

from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, update

from app import create_app
from app.books import service
from app.books.models import Book
from app.core.extensions import db
from tests.books.conftest import BOOKS, AddBook
from tests.conftest import Account, SignUp, make_settings


def stored_title(app: Flask, book_id: int) -> str | None:
    with app.app_context():
        book = db.session.get(Book, book_id)
        return None if book is None else book.title


def test_a_book_is_read_with_an_etag_and_polled_with_304_until_it_changes(
    client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    created = client.post(BOOKS, json={"title": "Old", "author": "A"}, headers=reader.headers)
    url = created.headers["Location"]

    read = client.get(url, headers=reader.headers)
    etag = read.headers["ETag"]
    unchanged = client.get(url, headers={**reader.headers, "If-None-Match": etag})
    weak = client.get(url, headers={**reader.headers, "If-None-Match": f'W/{etag}, "other"'})
    changed = client.patch(url, json={"title": "New"}, headers=reader.headers)
    polled = client.get(url, headers={**reader.headers, "If-None-Match": etag})

    assert read.status_code == 200
    assert etag == created.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert unchanged.status_code == weak.status_code == 304
    assert unchanged.data == b""
    assert unchanged.headers["ETag"] == etag
    assert changed.headers["ETag"] != etag
    assert polled.status_code == 200
    assert polled.headers["ETag"] == changed.headers["ETag"]
    assert polled.get_json()["title"] == "New"


def test_a_write_by_the_previous_release_changes_the_etag(
    app: Flask, client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    """During a rolling deploy the release before this one, which has no version column,
    still writes: it moves the time of the last write, not the version. A change made on the
    ETag read before that write is refused, not laid over it."""
    reader = sign_up()
    book = add_book(reader, title="Original")
    url = f"{BOOKS}/{book['id']}"
    etag = client.get(url, headers=reader.headers).headers["ETag"]

    with app.app_context():  # the previous release's UPDATE: no version in it
        books = cast(Table, Book.__table__)
        db.session.execute(
            update(books).where(books.c.id == book["id"]).values(title="By the old release")
        )
        db.session.commit()
    read = client.get(url, headers={**reader.headers, "If-None-Match": etag})
    change = client.patch(url, json={"title": "Mine"}, headers={**reader.headers, "If-Match": etag})

    assert read.status_code == 200
    assert read.headers["ETag"] != etag
    assert change.status_code == 412
    assert stored_title(app, book["id"]) == "By the old release"


def test_a_change_made_on_a_stale_version_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    book = add_book(reader, title="Original")
    url = f"{BOOKS}/{book['id']}"
    etag = client.get(url, headers=reader.headers).headers["ETag"]

    first = client.patch(url, json={"title": "Mine"}, headers={**reader.headers, "If-Match": etag})
    second = client.patch(
        url, json={"title": "Theirs"}, headers={**reader.headers, "If-Match": etag}
    )
    empty = client.patch(url, json={}, headers={**reader.headers, "If-Match": etag})
    removal = client.delete(url, headers={**reader.headers, "If-Match": etag})

    assert first.status_code == 200
    assert first.headers["ETag"] != etag
    for refused in (second, empty, removal):
        assert refused.status_code == 412
        assert refused.mimetype == "application/problem+json"
        assert refused.headers["ETag"] == first.headers["ETag"]  # what to read again
    assert stored_title(app, book["id"]) == "Mine"

    current = client.delete(url, headers={**reader.headers, "If-Match": first.headers["ETag"]})
    assert current.status_code == 204
    assert stored_title(app, book["id"]) is None


def test_if_match_star_and_a_list_including_the_current_version_proceed(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    url = f"{BOOKS}/{add_book(reader)['id']}"
    etag = client.get(url, headers=reader.headers).headers["ETag"]

    listed = client.patch(
        url, json={"title": "A"}, headers={**reader.headers, "If-Match": f'"nope", {etag}'}
    )
    star = client.patch(url, json={"title": "B"}, headers={**reader.headers, "If-Match": "*"})
    weak = client.patch(
        url,
        json={"title": "C"},
        headers={**reader.headers, "If-Match": f"W/{star.headers['ETag']}"},
    )

    assert listed.status_code == star.status_code == 200
    assert weak.status_code == 412  # If-Match compares strongly (RFC 9110 §13.1.1)


def test_someone_elses_book_is_404_whatever_if_match_says(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    owner, other = sign_up(), sign_up()
    url = f"{BOOKS}/{add_book(owner)['id']}"
    for method in (client.patch, client.delete):
        answer = method(url, json={"title": "x"}, headers={**other.headers, "If-Match": '"1"'})
        assert answer.status_code == 404


@pytest.fixture
def second_process(database_url: str) -> FlaskClient:
    """Another app on the suite's database: its requests have sessions of their own, as
    another process's would, even when sent while a request of ``client`` is running."""
    return create_app(make_settings(database_url=database_url)).test_client()


@pytest.mark.parametrize("if_match", [True, False])
def test_a_writer_that_loses_the_race_after_its_check_changes_nothing(
    app: Flask,
    client: FlaskClient,
    second_process: FlaskClient,
    sign_up: SignUp,
    add_book: AddBook,
    monkeypatch: pytest.MonkeyPatch,
    if_match: bool,
) -> None:
    """Both writers read version 1 and pass the If-Match check; the rival commits first. The
    version in the UPDATE's WHERE clause then matches nothing: 412 (409 without If-Match)."""
    reader = sign_up()
    book = add_book(reader, title="Original")
    url = f"{BOOKS}/{book['id']}"
    etag = client.get(url, headers=reader.headers).headers["ETag"]
    conditions = {"If-Match": etag} if if_match else {}
    commit = service.commit
    rival: list[Any] = []

    def rival_commits_first(changed: Book) -> None:
        monkeypatch.setattr(service, "commit", commit)  # the rival commits as usual
        rival.append(
            second_process.patch(
                url, json={"title": "Rival"}, headers={**reader.headers, **conditions}
            )
        )
        commit(changed)

    monkeypatch.setattr(service, "commit", rival_commits_first)
    late = client.patch(url, json={"title": "Late"}, headers={**reader.headers, **conditions})

    assert rival[0].status_code == 200
    assert rival[0].get_json()["title"] == "Rival"
    assert late.status_code == (412 if if_match else 409)
    assert late.mimetype == "application/problem+json"
    # (Within the suite's one outer transaction the loser's rollback also undoes the rival's
    # savepoint; tests/process/test_retries_and_edits.py races real processes instead.)
    assert stored_title(app, book["id"]) != "Late"


@pytest.fixture
def strict_client(database_url: str) -> FlaskClient:
    """An app with IF_MATCH_REQUIRED, on the suite's database."""
    return create_app(
        make_settings(database_url=database_url, if_match_required=True)
    ).test_client()


def test_when_required_a_change_without_if_match_gets_428(
    app: Flask, strict_client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader: Account = sign_up()
    book = add_book(reader, title="Original")
    url = f"{BOOKS}/{book['id']}"

    read = strict_client.get(url, headers=reader.headers)
    unconditional = strict_client.patch(url, json={"title": "x"}, headers=reader.headers)
    removal = strict_client.delete(url, headers=reader.headers)
    conditional = strict_client.patch(
        url, json={"title": "Kept"}, headers={**reader.headers, "If-Match": read.headers["ETag"]}
    )

    assert read.status_code == 200
    assert unconditional.status_code == removal.status_code == 428
    assert unconditional.mimetype == "application/problem+json"
    assert "If-Match" in unconditional.get_json()["detail"]
    assert conditional.status_code == 200
    assert stored_title(app, book["id"]) == "Kept"


def test_the_document_declares_the_headers_and_answers(client: FlaskClient) -> None:
    item = client.get("/openapi.json").get_json()["paths"][f"{BOOKS}/{{book_id}}"]
    methods = ("get", "patch", "delete")
    names = {method: {p["name"] for p in item[method].get("parameters", [])} for method in methods}
    assert "If-None-Match" in names["get"]
    assert "If-Match" in names["patch"]
    assert "If-Match" in names["delete"]
    assert "ETag" in item["get"]["responses"]["200"]["headers"]
    assert "ETag" in item["patch"]["responses"]["200"]["headers"]
    assert "304" in item["get"]["responses"]
    for method in ("patch", "delete"):
        assert {"412", "428"} <= item[method]["responses"].keys()
