from enum import StrEnum


class BooksListSort(StrEnum):
    CREATED_AT = "created_at"
    PUBLISHED_YEAR = "published_year"
    TITLE = "title"
    VALUE_1 = "-title"
    VALUE_3 = "-created_at"
    VALUE_5 = "-published_year"

    def __str__(self) -> str:
        return str(self.value)
