"""Page-number pagination: query arguments, the response envelope and the Link header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from sqlalchemy import Select, func, select

from app.core.compiled_dump import CompiledDumpSchema
from app.core.extensions import db

# The document's word for link_header()'s answer: `@blp.response(200, ..., headers=LINK)`.
LINK = {"Link": {"description": "RFC 8288 next and prev pages", "schema": {"type": "string"}}}
MAX_PAGE_SIZE = 100
MAX_PAGE = 2**31 - 1  # keeps OFFSET within every database's integer range


class PageArgsSchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE))
    page_size = ma.fields.Integer(
        load_default=20, validate=ma.validate.Range(min=1, max=MAX_PAGE_SIZE)
    )


class PageSchema(CompiledDumpSchema):
    """Envelope of every list; a subclass declares ``items``."""

    total = ma.fields.Integer(required=True, metadata={"description": "Items across all pages"})
    page = ma.fields.Integer(required=True)
    page_size = ma.fields.Integer(required=True)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    page_size: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total


def paginate(statement: Select[Any], page: int, page_size: int) -> Page:
    """Run ``statement`` for one page, plus a count of all its rows."""
    total = db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = db.session.scalars(statement.limit(page_size).offset((page - 1) * page_size)).all()
    return Page(items=list(rows), total=total or 0, page=page, page_size=page_size)


def link_header(page: Page) -> dict[str, str]:
    """RFC 8288 next/prev links that keep the request's other query arguments."""
    links = []
    for relation, number in (("prev", page.page - 1), ("next", page.page + 1)):
        if (relation == "prev" and number >= 1) or (relation == "next" and page.has_next):
            query = {**request.args.to_dict(), "page": number, "page_size": page.page_size}
            links.append(f'<{request.base_url}?{urlencode(query)}>; rel="{relation}"')
    return {"Link": ", ".join(links)} if links else {}
