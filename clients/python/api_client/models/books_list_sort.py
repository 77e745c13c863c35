from enum import StrEnum


class BooksListSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    PUBLISHED_YEAR = "published_year"
    PUBLISHED_YEAR_DESC = "-published_year"
    TITLE = "title"
    TITLE_DESC = "-title"

    def __str__(self) -> str:
        return str(self.value)
