"""What a client sends is checked strictly, and every refusal names the field at fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.books import schemas, service
from app.books.models import Book
from app.core.extensions import db
from tests.books.conftest import BOOKS, ISBNS, AddBook
from tests.conftest import Account, SignUp

VALID = {"title": "Dune", "author": "Frank Herbert"}


def field_errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422
    errors: dict[str, Any] = body["errors"]["json"]
    return errors


def create(client: FlaskClient, account: Account, **fields: Any) -> Any:
    return client.post(BOOKS, json={**VALID, **fields}, headers=account.headers)


NOT_COERCED = [
    ("published_year", "1999"),
    ("published_year", 1999.5),
    ("published_year", True),
    ("published_year", [1999]),
    ("title", 42),
    ("title", True),
    ("title", ["Dune"]),
    ("author", {"name": "Herbert"}),
    ("isbn", 9780306406157),
    ("description", 5),
    ("title", None),
    ("author", None),
]


def test_types_are_not_coerced(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    for field, value in NOT_COERCED:
        assert field in field_errors(create(client, reader, **{field: value})), (field, value)


def test_a_whole_number_written_with_a_fraction_is_that_integer(
    client: FlaskClient, sign_up: SignUp
) -> None:
    """JSON Schema, so the document, counts 1999.0 as the integer 1999; so does the API."""
    created = create(client, sign_up(), published_year=1999.0)
    assert created.status_code == 201
    assert created.get_json()["published_year"] == 1999
    assert "1999.0" not in created.get_data(as_text=True)


def test_the_body_must_be_an_object(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    for body in ('[{"title": "Dune", "author": "Herbert"}]', '"Dune"', "42", "null"):
        response = client.post(
            BOOKS, data=body, content_type="application/json", headers=reader.headers
        )
        assert "_schema" in field_errors(response), body


def test_required_fields_are_named(client: FlaskClient, sign_up: SignUp) -> None:
    errors = field_errors(client.post(BOOKS, json={}, headers=sign_up().headers))
    assert errors == {
        "title": ["Missing data for required field."],
        "author": ["Missing data for required field."],
    }


def test_unknown_fields_are_refused(client: FlaskClient, sign_up: SignUp) -> None:
    errors = field_errors(create(client, sign_up(), price=10, Title="x"))
    assert errors == {"price": ["Unknown field."], "Title": ["Unknown field."]}


def test_read_only_fields_are_refused_by_name(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    url = f"{BOOKS}/{add_book(reader)['id']}"
    for field in ("id", "owner_id", "created_at", "updated_at"):
        value = 1 if field.endswith("id") else "2024-01-01T00:00:00+00:00"
        assert field_errors(create(client, reader, **{field: value})) == {
            field: ["Read-only field: set by the server."]
        }
        patched = client.patch(url, json={field: value}, headers=reader.headers)
        assert field_errors(patched) == {field: ["Read-only field: set by the server."]}


REFUSED_TEXT = [
    ("title", ""),
    ("title", "   "),
    ("title", "\t\n\u3000"),
    ("title", "x" * 201),
    ("author", ""),
    ("author", "😀" * 201),
    ("description", "x" * 5001),
    ("title", "Nul\x00byte"),
    ("description", "\x00"),
]


def test_lengths_and_content_are_checked(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    for field, value in REFUSED_TEXT:
        assert field in field_errors(create(client, reader, **{field: value})), (field, value)


def test_surrounding_white_space_is_dropped_and_the_limit_counts_the_text_as_sent(
    client: FlaskClient, sign_up: SignUp
) -> None:
    """The document's maxLength is the length of the string a client sends."""
    reader = sign_up()
    created = create(client, reader, title=f"  {'x' * 196}  ")
    assert created.status_code == 201
    assert created.get_json()["title"] == "x" * 196
    assert "title" in field_errors(create(client, reader, title=f"\t{'x' * 200}"))


def test_an_isbn_is_normalised_to_thirteen_digits(client: FlaskClient, sign_up: SignUp) -> None:
    for sent, stored in (
        ("9780306406157", "9780306406157"),
        ("978-0-306-40615-7", "9780306406157"),
        ("978 0 306 40615 7", "9780306406157"),
        (" 979-10-323-0569-0 ", "9791032305690"),
    ):
        created = create(client, sign_up(), isbn=sent)  # one reader each: no duplicates
        assert created.status_code == 201, sent
        assert created.get_json()["isbn"] == stored


INVALID_ISBNS = [
    "9780306406158",  # wrong check digit
    "978-0-306-40615-8",
    "0306406152",  # ISBN-10
    "97803064061570",  # 14 digits
    "1234567890128",  # a valid EAN-13, not an ISBN
    "978030640615X",
    "978.0.306.40615.7",
    "".join(chr(0xFF10 + int(digit)) for digit in "9780306406157"),  # full-width digits
    "",
]


def test_an_invalid_isbn_is_refused(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    for isbn in INVALID_ISBNS:
        assert field_errors(create(client, reader, isbn=isbn)) == {
            "isbn": ["Not a valid ISBN-13."]
        }, isbn


def test_the_year_runs_from_1450_to_next_year(client: FlaskClient, sign_up: SignUp) -> None:
    reader = sign_up()
    next_year = datetime.now(UTC).year + 1
    for year in (1450, next_year):
        assert create(client, reader, published_year=year).status_code == 201, year
    for year in (1449, next_year + 1, -1, 0, 2**31):
        assert "published_year" in field_errors(create(client, reader, published_year=year))


def test_next_year_is_worked_out_when_the_request_arrives(
    client: FlaskClient, sign_up: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NewYearsEve2099(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> NewYearsEve2099:
            return cls(2099, 12, 31, 23, 59, tzinfo=UTC)

    monkeypatch.setattr(schemas, "datetime", NewYearsEve2099)
    reader = sign_up()
    assert create(client, reader, published_year=2100).status_code == 201
    assert "published_year" in field_errors(create(client, reader, published_year=2101))


def test_a_patch_is_validated_like_a_create(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    url = f"{BOOKS}/{add_book(reader)['id']}"
    for change in ({"title": ""}, {"title": None}, {"published_year": "2000"}, {"isbn": "123"}):
        assert (
            change.keys()
            == field_errors(client.patch(url, json=change, headers=reader.headers)).keys()
        )


def count_books(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Book)) or 0


def test_an_isbn_appears_once_per_shelf(
    app: Flask, client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    add_book(reader, isbn=ISBNS[0])
    before = count_books(app)
    duplicate = create(client, reader, isbn="978-0-306-40615-7")
    assert duplicate.status_code == 409
    assert duplicate.content_type == "application/problem+json"
    assert duplicate.get_json()["errors"] == {
        "json": {"isbn": ["You already have a book with this ISBN."]}
    }
    assert count_books(app) == before

    other = add_book(reader, isbn=ISBNS[1])
    clash = client.patch(f"{BOOKS}/{other['id']}", json={"isbn": ISBNS[0]}, headers=reader.headers)
    assert clash.status_code == 409
    assert "isbn" in clash.get_json()["errors"]["json"]
    # Setting a book's ISBN to the one it already has is no clash.
    same = client.patch(f"{BOOKS}/{other['id']}", json={"isbn": ISBNS[1]}, headers=reader.headers)
    assert same.status_code == 200


def test_two_readers_may_own_the_same_isbn(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    first, second = sign_up(), sign_up()
    add_book(first, isbn=ISBNS[0])
    assert create(client, second, isbn=ISBNS[0]).status_code == 201


def test_books_without_an_isbn_never_clash(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    add_book(reader)
    add_book(reader, isbn=None)
    assert create(client, reader).status_code == 201


def test_a_duplicate_that_races_past_the_check_is_still_a_409_naming_isbn(
    app: Flask,
    client: FlaskClient,
    sign_up: SignUp,
    add_book: AddBook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = sign_up()
    add_book(reader, isbn=ISBNS[0])
    other = add_book(reader, isbn=ISBNS[1])
    before = count_books(app)
    # Two requests can both pass the check before either commits; the database decides.
    monkeypatch.setattr(service, "isbn_taken", lambda *_args: False)
    for response in (
        create(client, reader, isbn=ISBNS[0]),
        client.patch(f"{BOOKS}/{other['id']}", json={"isbn": ISBNS[0]}, headers=reader.headers),
    ):
        assert response.status_code == 409
        assert response.get_json()["errors"] == {
            "json": {"isbn": ["You already have a book with this ISBN."]}
        }
    assert count_books(app) == before
    assert (
        client.get(f"{BOOKS}/{other['id']}", headers=reader.headers).get_json()["isbn"]
        == (ISBNS[1])
    )
