"""The wire format of books: what a client may send, and what it gets back."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

from app.core.compiled_dump import CompiledDumpSchema
from app.core.pagination import PageArgsSchema, PageSchema
from app.core.schemas import SortField, StrictInteger, StrictSchema, Text, TrimmedString

EARLIEST_YEAR = 1450  # Gutenberg's press
SORT_KEYS = ["title", "created_at", "published_year"]
ISBN_13 = re.compile(r"97[89][0-9]{10}")
# The same digits as the document states them, separators allowed anywhere (ECMA-262 syntax).
ISBN_13_AS_TYPED = r"^[ -]*9[ -]*7[ -]*[89](?:[ -]*[0-9]){10}[ -]*$"
ISBN_13_MAX_LENGTH = 40  # thirteen digits with room for any common spacing


def isbn_13_check_digit_ok(digits: str) -> bool:
    """Weights 1, 3, 1, 3, ... over all thirteen digits sum to a multiple of ten."""
    return sum(int(digit) * (3 if i % 2 else 1) for i, digit in enumerate(digits)) % 10 == 0


class Isbn13(Text):
    """An ISBN-13 with a valid check digit, sent with or without hyphens and spaces and
    always returned as its thirteen digits: "978-0-306-40615-7" -> "9780306406157"."""

    default_error_messages = {"invalid_isbn": "Not a valid ISBN-13."}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "format": "isbn13",
            "pattern": ISBN_13_AS_TYPED,
            "example": "978-0-306-40615-7",
            "description": "ISBN-13: 978 or 979 and ten more digits, with hyphens and spaces "
            "anywhere (dropped: it comes back as 13 digits). The last digit must be the check "
            "digit, a rule the pattern cannot state.",
        }
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        digits = text.replace("-", "").replace(" ", "")
        if not ISBN_13.fullmatch(digits) or not isbn_13_check_digit_ok(digits):
            raise self.make_error("invalid_isbn")
        return digits


def not_after_next_year(year: int) -> None:
    # Evaluated per request, so the bound moves on New Year's Day without a deploy.
    if year > datetime.now(UTC).year + 1:
        raise ma.ValidationError("Must not be later than next year.")


class BookSchema(CompiledDumpSchema):
    """A book as the API returns it: every field is always there (null when not set)."""

    id = ma.fields.Integer(required=True)
    owner_id = ma.fields.Integer(required=True, metadata={"description": "The owner's user id"})
    title = ma.fields.String(required=True)
    author = ma.fields.String(required=True)
    isbn = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "ISBN-13, its 13 digits"}
    )
    published_year = ma.fields.Integer(required=True, allow_none=True)
    description = ma.fields.String(required=True, allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class BookCreateSchema(StrictSchema):
    """A book as a client adds it: only the fields a client may set."""

    returned_as = BookSchema

    title = TrimmedString(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"example": "Le Petit Prince"},
    )
    author = TrimmedString(
        required=True,
        validate=ma.validate.Length(min=1, max=200),
        metadata={"example": "Antoine de Saint-Exupéry"},
    )
    isbn = Isbn13(allow_none=True, validate=ma.validate.Length(max=ISBN_13_MAX_LENGTH))
    published_year = StrictInteger(
        allow_none=True,
        validate=[ma.validate.Range(min=EARLIEST_YEAR), not_after_next_year],
        metadata={
            "description": f"From {EARLIEST_YEAR} to next year (a maximum the schema cannot "
            "state: it moves every New Year's Day)",
            "example": 1943,
        },
    )
    description = Text(allow_none=True, validate=ma.validate.Length(max=5000))


class BookUpdateSchema(BookCreateSchema):
    """Any of the fields a client may set; those left out keep their values (PATCH)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)


class BookQuerySchema(PageArgsSchema, StrictSchema):
    q = Text(
        load_default="",
        validate=ma.validate.Length(max=200),
        metadata={"description": "Case-insensitive search in title and author"},
    )
    sort = SortField(SORT_KEYS, load_default="-created_at")

    @ma.post_load
    def trim_search(self, query: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {**query, "q": query["q"].strip()}  # blank means no search


class BookPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(BookSchema), required=True)


class ExportRequestSchema(ma.Schema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(["json", "csv"]),
        metadata={"description": "json (a list of books) or csv (one row per book)"},
    )
