"""The bare baseline: the benchmarked endpoints as a careful hand-written Flask service would
write them, with the same ORM (SQLAlchemy 2 declarative models, ``Session``, ``select(Model)``)
and PyJWT.

It checks the token once and looks its user and sign-in up in one query, reads and writes
books as ORM objects in one session per request, and answers with the same JSON as the
template. It has none of the template's layers: no flask-smorest or marshmallow, no rate
limiter, request ids or access log, and just enough input checking for the benchmark. What
the template spends above this is the price of those layers. Run by bench/run.py as
``gunicorn baseline:app`` (from bench/) with the template's worker settings.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask, Response, abort, jsonify, request
from sqlalchemy import DateTime, ForeignKey, String, create_engine, exists, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC, as the template does


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class TokenFamily(Base):
    __tablename__ = "token_families"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(200))
    isbn: Mapped[str | None] = mapped_column(String(13))
    published_year: Mapped[int | None]
    description: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "title": self.title,
            "author": self.author,
            "isbn": self.isbn,
            "published_year": self.published_year,
            "description": self.description,
            "created_at": self.created_at.replace(tzinfo=UTC).isoformat(),
            "updated_at": self.updated_at.replace(tzinfo=UTC).isoformat(),
        }


app = Flask(__name__)
engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_pre_ping=True,
    pool_recycle=1800,
    connect_args={"connect_timeout": 5},
)
secret = os.environ["JWT_SECRET_KEY"]
# The template's token check: the active user of an unrevoked sign-in, in one query.
SIGNED_IN_USER = (
    select(User)
    .join(TokenFamily, TokenFamily.user_id == User.id)
    .where(User.is_active.is_(True), TokenFamily.revoked_at.is_(None))
)


def signed_in_user(session: Session) -> User:
    header = request.headers.get("Authorization", "")
    try:
        claims = jwt.decode(header.removeprefix("Bearer "), secret, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        abort(401)
    if claims.get("type") != "access":
        abort(401)
    query = SIGNED_IN_USER.where(User.id == int(claims["sub"]), TokenFamily.id == claims["fam"])
    return session.scalar(query) or abort(401)


def new_session() -> Session:
    return Session(engine, expire_on_commit=False)


@app.get("/livez")
def livez() -> Response:
    return jsonify(status="ok")


@app.get("/api/v1/books")
def list_books() -> Response:
    page, page_size = int(request.args.get("page", 1)), int(request.args.get("page_size", 20))
    with new_session() as session:
        user = signed_in_user(session)
        query = select(Book).where(Book.owner_id == user.id)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        books = session.scalars(
            query.order_by(Book.created_at.desc(), Book.id.desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        items = [book.as_json() for book in books]
    return jsonify(items=items, total=total, page=page, page_size=page_size)


@app.get("/api/v1/books/<int:book_id>")
def get_book(book_id: int) -> Response:
    with new_session() as session:
        user = signed_in_user(session)
        book = session.scalar(select(Book).where(Book.owner_id == user.id, Book.id == book_id))
        return jsonify(book.as_json()) if book else abort(404)


@app.post("/api/v1/books")
def create_book() -> tuple[Response, int, dict[str, str]]:
    body = request.get_json()
    fields = {name: body.get(name) for name in ("title", "author", "published_year")}
    fields["isbn"] = body.get("isbn", "").replace("-", "") or None
    fields["description"] = body.get("description")
    with new_session() as session:
        user = signed_in_user(session)
        book = Book(owner_id=user.id, **fields)
        taken = exists().where(Book.owner_id == user.id, Book.isbn == book.isbn)
        if book.isbn is not None and session.scalar(select(taken)):
            abort(409)
        session.add(book)
        session.commit()
        return jsonify(book.as_json()), 201, {"Location": f"/api/v1/books/{book.id}"}
