from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.book import Book


T = TypeVar("T", bound="BookPage")


@_attrs_define
class BookPage:
    """
    Attributes:
        total (int): Items across all pages
        page (int):
        page_size (int):
        items (list[Book]):
    """

    total: int
    page: int
    page_size: int
    items: list[Book]

    def to_dict(self) -> dict[str, Any]:
        total = self.total

        page = self.page

        page_size = self.page_size

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "total": total,
                "page": page,
                "page_size": page_size,
                "items": items,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.book import Book  # noqa: PLC0415

        d = dict(src_dict)
        total = d.pop("total")

        page = d.pop("page")

        page_size = d.pop("page_size")

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = Book.from_dict(items_item_data)

            items.append(items_item)

        book_page = cls(
            total=total,
            page=page,
            page_size=page_size,
            items=items,
        )

        return book_page
