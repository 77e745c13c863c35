"""Readers see and change only their own books; admins see and change everyone's."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from app.auth.models import User
from app.books.models import Book
from app.core.extensions import db
from tests.books.conftest import BOOKS, AddBook
from tests.conftest import SignUp


def test_someone_elses_book_does_not_exist_for_you(
    app: Flask, client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    owner, stranger = sign_up(), sign_up()
    book = add_book(owner, title="Private diary")
    url = f"{BOOKS}/{book['id']}"
    for response in (
        client.get(url, headers=stranger.headers),
        client.patch(url, json={"title": "Mine now"}, headers=stranger.headers),
        client.delete(url, headers=stranger.headers),
    ):
        # The same answer as for an id nobody has, so existence does not leak.
        assert response.status_code == 404
        assert response.get_json()["detail"] == "No such book."
    assert client.get(BOOKS, headers=stranger.headers).get_json()["total"] == 0
    assert client.get(f"{BOOKS}?q=diary", headers=stranger.headers).get_json()["items"] == []
    with app.app_context():
        row = db.session.get(Book, book["id"])
        assert row is not None
        assert row.title == "Private diary"


def test_lists_hold_only_your_own_books(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    alice, bob = sign_up(), sign_up()
    add_book(alice, title="Alice's")
    add_book(bob, title="Bob's")
    body = client.get(BOOKS, headers=alice.headers).get_json()
    assert [book["title"] for book in body["items"]] == ["Alice's"]
    assert body["total"] == 1


def test_an_admin_sees_and_changes_every_book(
    app: Flask, client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader, admin = sign_up(), sign_up(admin=True)
    book = add_book(reader, title="Reader's", isbn="9780306406157")
    add_book(admin, title="Admin's")
    url = f"{BOOKS}/{book['id']}"

    listed = client.get(f"{BOOKS}?sort=title", headers=admin.headers).get_json()
    assert [b["title"] for b in listed["items"]] == ["Admin's", "Reader's"]
    assert client.get(url, headers=admin.headers).get_json() == book

    changed = client.patch(url, json={"title": "Edited"}, headers=admin.headers)
    assert changed.status_code == 200
    # The book stays its owner's.
    assert changed.get_json()["owner_id"] == reader.id
    assert client.get(url, headers=reader.headers).get_json()["title"] == "Edited"

    assert client.delete(url, headers=admin.headers).status_code == 204
    with app.app_context():
        assert db.session.get(Book, book["id"]) is None


def test_an_admin_editing_checks_the_isbn_against_the_owners_shelf(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader, admin = sign_up(), sign_up(admin=True)
    add_book(reader, isbn="9780306406157")
    other = add_book(reader)
    add_book(admin, isbn="9780140449136")
    url = f"{BOOKS}/{other['id']}"
    clash = client.patch(url, json={"isbn": "9780306406157"}, headers=admin.headers)
    assert clash.status_code == 409
    # The admin's own copy of an ISBN is no clash on the reader's shelf.
    fine = client.patch(url, json={"isbn": "9780140449136"}, headers=admin.headers)
    assert fine.status_code == 200


def test_a_users_books_go_with_the_user(app: Flask, sign_up: SignUp, add_book: AddBook) -> None:
    leaving, staying = sign_up(), sign_up()
    for _ in range(3):
        add_book(leaving)
    kept = add_book(staying)
    with app.app_context():
        db.session.execute(delete(User).where(User.id == leaving.id))
        db.session.commit()
        owners = db.session.scalars(select(Book.owner_id)).all()
        assert owners == [staying.id]
        assert db.session.scalar(select(func.count()).select_from(Book)) == 1
        assert db.session.get(Book, kept["id"]) is not None
