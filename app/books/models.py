"""The books table: each book belongs to one user and goes when its owner goes."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.conditional import Versioned
from app.core.extensions import Base, TimestampMixin


class Book(Versioned, TimestampMixin, Base):
    __tablename__ = "books"
    __table_args__ = (
        # One owner cannot list an ISBN twice; two owners may each have it. The index also
        # serves every "this owner's books" query, so owner_id needs no index of its own.
        UniqueConstraint("owner_id", "isbn", name="uq_books_owner_id_isbn"),
        # MariaDB's default collation ignores accents and treats all emoji as one character;
        # binary comparison makes search and sort agree with PostgreSQL and SQLite.
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(200))
    isbn: Mapped[str | None] = mapped_column(String(13))  # 13 digits, normalised on input
    published_year: Mapped[int | None]
    description: Mapped[str | None] = mapped_column(Text)
