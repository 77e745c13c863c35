from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

T = TypeVar("T", bound="Book")


@_attrs_define
class Book:
    """
    Attributes:
        id (int):
        owner_id (int): The owner's user id
        title (str):
        author (str):
        isbn (None | str): ISBN-13, its 13 digits
        published_year (int | None):
        description (None | str):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
    """

    id: int
    owner_id: int
    title: str
    author: str
    isbn: None | str
    published_year: int | None
    description: None | str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        owner_id = self.owner_id

        title = self.title

        author = self.author

        isbn: None | str
        isbn = self.isbn

        published_year: int | None
        published_year = self.published_year

        description: None | str
        description = self.description

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "owner_id": owner_id,
                "title": title,
                "author": author,
                "isbn": isbn,
                "published_year": published_year,
                "description": description,
                "created_at": created_at,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        owner_id = d.pop("owner_id")

        title = d.pop("title")

        author = d.pop("author")

        def _parse_isbn(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        isbn = _parse_isbn(d.pop("isbn"))

        def _parse_published_year(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        published_year = _parse_published_year(d.pop("published_year"))

        def _parse_description(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        description = _parse_description(d.pop("description"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        book = cls(
            id=id,
            owner_id=owner_id,
            title=title,
            author=author,
            isbn=isbn,
            published_year=published_year,
            description=description,
            created_at=created_at,
            updated_at=updated_at,
        )

        return book
