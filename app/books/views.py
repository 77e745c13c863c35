"""HTTP for books. Each view is its decorators, then: parse, call the service, return."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.auth.access import current_user, login_required
from app.books import service
from app.books.models import Book
from app.books.schemas import (
    BookCreateSchema,
    BookPageSchema,
    BookQuerySchema,
    BookSchema,
    BookUpdateSchema,
    ExportRequestSchema,
)
from app.books.tasks import export_books
from app.core.conditional import conditional
from app.core.idempotency import idempotent
from app.core.pagination import LINK, Page, link_header, paginate
from app.core.rate_limits import jobs_limit, per_user
from app.jobs.models import Job
from app.jobs.schemas import JobSchema
from app.jobs.service import start_job

blp = Blueprint("books", __name__, url_prefix="/api/v1/books", description="Your books")

LOCATION = {"Location": {"description": "The new book's URL", "schema": {"type": "string"}}}
TASK_LOCATION = {
    "Location": {"description": "Where to follow the job", "schema": {"type": "string"}}
}


@blp.route("")
class Books(MethodView):
    @login_required(blp)
    # webargs ignores unknown query arguments unless told; a typo should not pass silently.
    @blp.arguments(BookQuerySchema, location="query", unknown=ma.RAISE)
    @blp.response(200, BookPageSchema, headers=LINK)
    def get(self, query: dict[str, Any]) -> tuple[Page, int, dict[str, str]]:
        """Your books (an admin's: everyone's), newest first unless `sort` says otherwise."""
        books = service.books_query(current_user(), q=query["q"], sort=query["sort"])
        page = paginate(books, query["page"], query["page_size"])
        return page, 200, link_header(page)

    @login_required(blp)
    @idempotent(blp)
    @blp.arguments(BookCreateSchema)
    @blp.response(201, BookSchema, headers=LOCATION)
    @blp.alt_response(409, response="CONFLICT")
    @conditional(blp)
    def post(self, fields: dict[str, Any]) -> tuple[Book, int, dict[str, str]]:
        """Add a book to your shelf."""
        book = service.create_book(current_user(), fields)
        return book, 201, {"Location": url_for("books.BookItem", book_id=book.id)}


def this_book(book_id: int) -> Book:
    """The book a request's path names, if the caller may see it (for If-Match checks)."""
    return service.get_book(current_user(), book_id)


@blp.route("/<int(max=2147483647):book_id>")
class BookItem(MethodView):
    @login_required(blp)
    @blp.response(200, BookSchema)
    @conditional(blp)
    def get(self, book_id: int) -> Book:
        """One of your books."""
        return service.get_book(current_user(), book_id)

    @login_required(blp)
    @blp.arguments(BookUpdateSchema)
    @blp.response(200, BookSchema)
    @blp.alt_response(409, response="CONFLICT")
    @conditional(blp, load=this_book)
    def patch(self, changes: dict[str, Any], book_id: int) -> Book:
        """Change some of a book's fields; the others keep their values."""
        return service.update_book(current_user(), book_id, changes)

    @login_required(blp)
    @blp.response(204)
    @conditional(blp, load=this_book)
    def delete(self, book_id: int) -> None:
        """Remove a book for good."""
        service.delete_book(current_user(), book_id)


@blp.route("/exports")
class Exports(MethodView):
    @login_required(blp)
    @per_user(blp, jobs_limit)  # each call starts a job: RATELIMIT_JOBS
    @idempotent(blp)
    @blp.arguments(ExportRequestSchema, required=False)  # no body: the default format
    @blp.response(202, JobSchema, headers=TASK_LOCATION)
    def post(self, request: dict[str, str]) -> tuple[Job, int, dict[str, str]]:
        """Start an export of your books; follow it at the `Location` it answers with."""
        job = start_job(current_user(), "books_export", export_books, request)
        return job, 202, {"Location": url_for("tasks.TaskStatus", job_id=job.id)}
