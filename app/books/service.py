"""The rules about books, and each commit. Views call these; nothing here knows about HTTP
beyond aborting with the status a rule's failure deserves.

Ownership lives in the queries: a user's queries only ever select their own rows, so
someone else's book is "not found" (404) and its existence does not leak.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_smorest import abort
from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.books.models import Book
from app.core.extensions import db
from app.core.queries import contains_folded, sort_order

log = logging.getLogger(__name__)


def visible_to(user: User) -> Select[Book]:
    """Every query about books starts here: admins see all books, others their own."""
    query = select(Book)
    if not user.is_admin:
        query = query.where(Book.owner_id == user.id)
    return query


def books_query(user: User, *, q: str = "", sort: str = "-created_at") -> Select[Book]:
    """The books ``user`` may see, matching ``q`` (if any), in ``sort`` order."""
    query = visible_to(user)
    if q:
        query = query.where(contains_folded(Book.title, q) | contains_folded(Book.author, q))
    return query.order_by(*ordering(sort))


SORT_COLUMNS: dict[str, Any] = {
    "title": func.lower(Book.title),  # case-insensitive: "apple" next to "Apple"
    "created_at": Book.created_at,
    "published_year": Book.published_year,
}


def ordering(sort: str) -> list[Any]:
    """ORDER BY for a documented sort key; books without a year come last either way
    (databases disagree on where NULLs go)."""
    nulls_last = [Book.published_year.is_(None)] if sort.endswith("published_year") else []
    return [*nulls_last, *sort_order(sort, SORT_COLUMNS, Book.id)]


def get_book(user: User, book_id: int) -> Book:
    book: Book = db.session.scalar(visible_to(user).where(Book.id == book_id)) or abort(
        404, message="No such book."
    )
    return book


def create_book(owner: User, fields: dict[str, Any]) -> Book:
    book = Book(owner_id=owner.id, **fields)
    if book.isbn is not None and isbn_taken(owner.id, book.isbn):
        isbn_conflict()
    db.session.add(book)
    commit(book)
    return book


def update_book(user: User, book_id: int, changes: dict[str, Any]) -> Book:
    book = get_book(user, book_id)
    isbn = changes.get("isbn")
    if isbn is not None and isbn != book.isbn and isbn_taken(book.owner_id, isbn):
        isbn_conflict()
    for field, value in changes.items():
        setattr(book, field, value)
    commit(book)
    return book


def delete_book(user: User, book_id: int) -> None:
    db.session.delete(get_book(user, book_id))
    db.session.commit()


def isbn_taken(owner_id: int, isbn: str) -> bool:
    duplicate = exists().where(Book.owner_id == owner_id, Book.isbn == isbn)
    return bool(db.session.scalar(select(duplicate)))


def isbn_conflict() -> None:
    """Abort with the 409 that names the field."""
    abort(
        409,
        message="You already have a book with this ISBN.",
        errors={"json": {"isbn": ["You already have a book with this ISBN."]}},
    )


def commit(book: Book) -> None:
    """Commit, turning the duplicate-ISBN race (two requests past the check at once) into
    the same 409 as the check; any other integrity error is the app-wide 409's to answer."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if "isbn" in str(error.orig).lower():
            isbn_conflict()
        raise
    log.info("book saved", extra={"labels.book_id": str(book.id)})
