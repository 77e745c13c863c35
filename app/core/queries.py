"""What every list query shares: a case-insensitive text search and a stable sort order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, func

LIKE_ESCAPE = "/"  # not a backslash, which MariaDB also reads as a string-literal escape


def escape_like(text: str) -> str:
    """Make a user's % and _ match themselves rather than act as LIKE wildcards."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def contains_folded(column: Any, text: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, ignoring case. lower() on both sides, in the database, so
    every backend folds the same way (SQLite gets a Unicode-aware lower() in app.prepare_engine).
    """
    pattern = f"%{escape_like(text)}%"
    return func.lower(column).like(func.lower(pattern), escape=LIKE_ESCAPE)


def sort_order(sort: str, columns: Mapping[str, Any], tie_breaker: Any) -> list[Any]:
    """ORDER BY for ``sort`` (a key of ``columns``, with "-" for descending), then
    ``tie_breaker`` (the id) in the same direction, so pages never repeat or skip a row."""
    direction = "desc" if sort.startswith("-") else "asc"
    column = columns[sort.removeprefix("-")]
    return [getattr(column, direction)(), getattr(tie_breaker, direction)()]
