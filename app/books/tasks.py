"""Background work on books: exporting a user's collection."""

from __future__ import annotations

import csv
import io
from typing import Any

from celery import shared_task
from sqlalchemy import select

from app.books.models import Book
from app.core.extensions import db
from app.jobs.models import Job
from app.jobs.service import run_job

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

EXPORT_FIELDS = ("id", "title", "author", "isbn", "published_year", "description", "created_at")


@shared_task
def export_books(job_id: str) -> None:
    """Build the export a user asked for; a redelivered, finished export is left as it is."""
    run_job(job_id, build_export)


def build_export(job: Job) -> dict[str, Any]:
    books = db.session.scalars(
        select(Book).where(Book.owner_id == job.owner_id).order_by(Book.id)
    ).all()
    rows = [
        {
            field: getattr(book, field).isoformat()
            if field == "created_at"
            else getattr(book, field)
            for field in EXPORT_FIELDS
        }
        for book in books
    ]
    if job.params.get("format") == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: inert_cell(value) for key, value in row.items()} for row in rows)
        return {"format": "csv", "count": len(rows), "content": buffer.getvalue()}
    return {"format": "json", "count": len(rows), "books": rows}


def inert_cell(value: object) -> object:
    """Keep a user's text from running as a formula when the CSV is opened (OWASP advice)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
