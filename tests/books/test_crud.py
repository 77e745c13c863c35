"""A reader keeps a shelf: adds a book, reads it, corrects it, and removes it, over HTTP."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient

from app.books.models import Book
from app.core.extensions import db
from tests.books.conftest import BOOKS, AddBook
from tests.conftest import SignUp


def test_add_read_change_and_remove_a_book(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    created = client.post(
        BOOKS,
        json={
            "title": "  Le Petit Prince ",
            "author": "Antoine de Saint-Exupéry",
            "isbn": "978-0-15-601219-5",
            "published_year": 1943,
            "description": "Un aviateur, un désert, une rose.",
        },
        headers=reader.headers,
    )
    assert created.status_code == 201
    book = created.get_json()
    assert created.headers["Location"] == f"{BOOKS}/{book['id']}"
    assert book["title"] == "Le Petit Prince"
    assert book["isbn"] == "9780156012195"
    assert book["owner_id"] == reader.id
    assert datetime.fromisoformat(book["created_at"]).utcoffset() is not None
    with app.app_context():
        row = db.session.get(Book, book["id"])
        assert row is not None
        assert (row.owner_id, row.title, row.isbn) == (reader.id, "Le Petit Prince", book["isbn"])

    read = client.get(created.headers["Location"], headers=reader.headers)
    assert read.status_code == 200
    assert read.get_json() == book

    changed = client.patch(
        created.headers["Location"], json={"published_year": 1946}, headers=reader.headers
    )
    assert changed.status_code == 200
    after = changed.get_json()
    assert after["published_year"] == 1946
    assert {k: v for k, v in after.items() if k not in ("published_year", "updated_at")} == {
        k: v for k, v in book.items() if k not in ("published_year", "updated_at")
    }
    assert after["updated_at"] >= book["updated_at"]

    removed = client.delete(created.headers["Location"], headers=reader.headers)
    assert removed.status_code == 204
    assert removed.data == b""
    gone = client.get(created.headers["Location"], headers=reader.headers)
    assert gone.status_code == 404
    assert gone.content_type == "application/problem+json"
    with app.app_context():
        assert db.session.get(Book, book["id"]) is None


def test_only_title_and_author_are_required(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    created = client.post(
        BOOKS, json={"title": "Dune", "author": "Herbert"}, headers=reader.headers
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["isbn"] is None
    assert body["published_year"] is None
    assert body["description"] is None


def test_optional_fields_are_cleared_with_null(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    book = add_book(reader, isbn="9780306406157", published_year=1990, description="Notes")
    cleared = client.patch(
        f"{BOOKS}/{book['id']}",
        json={"isbn": None, "published_year": None, "description": None},
        headers=reader.headers,
    )
    assert cleared.status_code == 200
    body = cleared.get_json()
    assert (body["isbn"], body["published_year"], body["description"]) == (None, None, None)


def test_an_empty_patch_changes_nothing(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    book = add_book(reader)
    unchanged = client.patch(f"{BOOKS}/{book['id']}", json={}, headers=reader.headers)
    assert unchanged.status_code == 200
    assert unchanged.get_json()["title"] == book["title"]


def test_a_patch_without_a_body_is_refused_as_the_document_says(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    book = add_book(reader)
    documented = client.get("/openapi.json").get_json()["paths"]
    for path, template in (
        (f"{BOOKS}/{book['id']}", f"{BOOKS}/{{book_id}}"),
        ("/api/v1/users/me", "/api/v1/users/me"),
    ):
        assert documented[template]["patch"]["requestBody"]["required"] is True
        refused = client.patch(path, headers=reader.headers)
        assert refused.status_code == 422, path
        assert refused.content_type == "application/problem+json"
        assert refused.get_json()["errors"] == {"json": {"_schema": ["Missing request body."]}}


def test_unicode_comes_back_exactly_as_sent(
    app: Flask, client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    text = {
        "title": "Ça ira 📚 — Ñandú, Łódź, 東京, Ελληνικά 🧑🏽‍🚀",
        "author": "Zoë Ångström 😀",
        "description": "Emoji with modifiers 👩‍👩‍👧‍👦 and combining e\u0301 stay as sent.",
    }
    created = client.post(BOOKS, json=text, headers=reader.headers)
    assert created.status_code == 201
    read = client.get(created.headers["Location"], headers=reader.headers).get_json()
    assert {key: read[key] for key in text} == text
    with app.app_context():
        row = db.session.get(Book, read["id"])
        assert row is not None
        assert (row.title, row.author, row.description) == tuple(text.values())


def test_lengths_at_their_limits_are_stored_whole(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    longest = {"title": "é" * 200, "author": "😀" * 200, "description": "ü" * 5000}
    created = client.post(BOOKS, json=longest, headers=reader.headers)
    assert created.status_code == 201
    read = client.get(created.headers["Location"], headers=reader.headers).get_json()
    assert {key: read[key] for key in longest} == longest


def test_an_unknown_id_is_404_for_every_verb(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    for book_id in (999_999, 2_147_483_647, 2_147_483_648, 0):
        url = f"{BOOKS}/{book_id}"
        for response in (
            client.get(url, headers=reader.headers),
            client.patch(url, json={"title": "x"}, headers=reader.headers),
            client.delete(url, headers=reader.headers),
        ):
            assert response.status_code == 404, url
            assert response.content_type == "application/problem+json"


def test_every_book_endpoint_needs_a_token(client: FlaskClient) -> None:
    for method, url in (
        ("GET", BOOKS),
        ("POST", BOOKS),
        ("GET", f"{BOOKS}/1"),
        ("PATCH", f"{BOOKS}/1"),
        ("DELETE", f"{BOOKS}/1"),
    ):
        response = client.open(url, method=method, json={"title": "x", "author": "y"})
        assert response.status_code == 401, (method, url)
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
