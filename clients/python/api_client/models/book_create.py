from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="BookCreate")


@_attrs_define
class BookCreate:
    """
    Attributes:
        title (str):  Example: Le Petit Prince.
        author (str):  Example: Antoine de Saint-Exupéry.
        isbn (None | str | Unset): ISBN-13: 978 or 979 and ten more digits, with hyphens and spaces anywhere (dropped:
            it comes back as 13 digits). The last digit must be the check digit, a rule the pattern cannot state. Example:
            978-0-306-40615-7.
        published_year (int | None | Unset): From 1450 to next year (a maximum the schema cannot state: it moves every
            New Year's Day) Example: 1943.
        description (None | str | Unset):
    """

    title: str
    author: str
    isbn: None | str | Unset = UNSET
    published_year: int | None | Unset = UNSET
    description: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        title = self.title

        author = self.author

        isbn: None | str | Unset
        if isinstance(self.isbn, Unset):
            isbn = UNSET
        else:
            isbn = self.isbn

        published_year: int | None | Unset
        if isinstance(self.published_year, Unset):
            published_year = UNSET
        else:
            published_year = self.published_year

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "title": title,
                "author": author,
            }
        )
        if isbn is not UNSET:
            field_dict["isbn"] = isbn
        if published_year is not UNSET:
            field_dict["published_year"] = published_year
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        title = d.pop("title")

        author = d.pop("author")

        def _parse_isbn(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        isbn = _parse_isbn(d.pop("isbn", UNSET))

        def _parse_published_year(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        published_year = _parse_published_year(d.pop("published_year", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        book_create = cls(
            title=title,
            author=author,
            isbn=isbn,
            published_year=published_year,
            description=description,
        )

        return book_create
