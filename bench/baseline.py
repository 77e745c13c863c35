"""The bare baseline: the benchmarked endpoints in plain Flask, SQLAlchemy Core and PyJWT.

It answers the requests ``bench/run.py`` sends exactly as the template does (same SQL, same
JSON bodies and headers, checked byte for byte by the harness) with none of the template's
layers: no flask-smorest or marshmallow, no ORM, no flask-jwt-extended, no rate limiter, no
request ids or access log. What the template spends above this is the price of those layers.

Same token check as ``app.auth.service.user_for_access_token``: verify the HS256 token, then
load the active user of an unrevoked sign-in in one query. Same engine options as the
template (pre-ping, recycle, connect timeout), so both pay the same per-checkout cost.

Served by gunicorn with the project's gunicorn.conf.py: ``gunicorn -c gunicorn.conf.py
bench.baseline:app``; it reads the same environment variables the template does.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Response, jsonify, request
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    create_engine,
    exists,
    func,
    insert,
    select,
)

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320)),
    Column("name", String(100)),
    Column("password_hash", String(255)),
    Column("role", String(16)),
    Column("is_active", Boolean),
    Column("welcomed_at", DateTime),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
)
token_families = Table(
    "token_families",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
)
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("jti", String(36), primary_key=True),
    Column("family_id", String(36), ForeignKey("token_families.id")),
    Column("spent_at", DateTime),
)
revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", String(36), primary_key=True),
    Column("expires_at", DateTime),
)
books = Table(
    "books",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_id", Integer, ForeignKey("users.id")),
    Column("title", String(200)),
    Column("author", String(200)),
    Column("isbn", String(13)),
    Column("published_year", Integer),
    Column("description", Text),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
)

PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
BOOK_FIELDS = {"title", "author", "isbn", "published_year", "description"}
ISBN_13 = re.compile(r"97[89][0-9]{10}")
MAX_PAGE_SIZE = 100
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ApiError(Exception):
    """A request the baseline answers with an error status (never sent by the benchmark)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@cache
def dummy_hash() -> str:
    """Made on first use, as the template makes its own."""
    return PASSWORD_HASHER.hash("a password no account has")


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored(moment: datetime) -> datetime:
    """The template stores naive UTC (app.core.extensions.UTCDateTime)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def iso(moment: datetime | None) -> str | None:
    """marshmallow's AwareDateTime: the aware UTC value in ISO 8601."""
    return None if moment is None else moment.replace(tzinfo=UTC).isoformat()


def book_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "owner_id": row.owner_id,
        "title": row.title,
        "author": row.author,
        "isbn": row.isbn,
        "published_year": row.published_year,
        "description": row.description,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def page_number(name: str, default: int, highest: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be an integer") from None
    if not 1 <= value <= highest:
        raise ApiError(422, f"{name} must be between 1 and {highest}")
    return value


def text_field(body: dict[str, Any], name: str, *, longest: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(422, f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > longest:
        raise ApiError(422, f"{name} must be 1 to {longest} characters")
    return value.strip() if required else value


def valid_isbn(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, "Not a valid ISBN-13.")
    digits = value.strip().replace("-", "").replace(" ", "")
    checksum = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits) if d.isdigit())
    if not ISBN_13.fullmatch(digits) or checksum % 10:
        raise ApiError(422, "Not a valid ISBN-13.")
    return digits


def valid_year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, "published_year must be an integer")
    if not 1450 <= value <= utcnow().year + 1:
        raise ApiError(422, "published_year is out of range")
    return value


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("MAX_CONTENT_LENGTH", 1024 * 1024))
    secret = os.environ["JWT_SECRET_KEY"]
    access_lifetime = timedelta(seconds=int(os.environ.get("JWT_ACCESS_TOKEN_EXPIRES", 900)))
    refresh_lifetime = timedelta(
        seconds=int(os.environ.get("JWT_REFRESH_TOKEN_EXPIRES", 14 * 24 * 3600))
    )
    engine = create_engine(
        os.environ["DATABASE_URL"],
        pool_pre_ping=True,
        pool_recycle=int(os.environ.get("DATABASE_POOL_RECYCLE", 1800)),
        connect_args={"connect_timeout": int(os.environ.get("DATABASE_CONNECT_TIMEOUT", 5))},
    )

    def signed_in_user(connection: Connection) -> Row[Any]:
        """The active user an unrevoked access token speaks for, in one query."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise ApiError(401, "No access token")
        try:
            claims = jwt.decode(header[7:], secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            raise ApiError(401, "The token is malformed or its signature is invalid.") from None
        if claims.get("type") != "access" or "sub" not in claims:
            raise ApiError(401, "The token was rejected.")
        revoked = exists().where(revoked_access_tokens.c.jti == claims["jti"])
        user = connection.execute(
            select(users)
            .join(token_families, token_families.c.user_id == users.c.id)
            .where(
                users.c.id == int(claims["sub"]),
                users.c.is_active.is_(True),
                token_families.c.id == claims.get("fam"),
                token_families.c.revoked_at.is_(None),
                ~revoked,
            )
        ).first()
        if user is None:
            raise ApiError(401, "The token has been revoked or its account is inactive.")
        return user

    def visible_books(user: Row[Any]) -> Any:
        query = select(books)
        if user.role != "admin":
            query = query.where(books.c.owner_id == user.id)
        return query

    def token(user: Row[Any], kind: str, lifetime: timedelta, claims: dict[str, Any]) -> str:
        now = utcnow()
        payload = {
            "fresh": False,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "type": kind,
            "sub": str(user.id),
            "nbf": now,
            "csrf": str(uuid.uuid4()),
            "exp": now + lifetime,
            **claims,
        }
        return jwt.encode(payload, secret, algorithm="HS256")

    @app.errorhandler(ApiError)
    def refused(error: ApiError) -> tuple[Response, int]:
        return jsonify(status=error.status, detail=error.detail), error.status

    @app.get("/livez")
    def livez() -> Response:
        return jsonify(status="ok")

    @app.get("/api/v1/books")
    def list_books() -> tuple[Response, int, dict[str, str]]:
        if set(request.args) - {"page", "page_size"}:
            raise ApiError(422, "the baseline serves page and page_size only")
        page = page_number("page", 1, 2**31 - 1)
        page_size = page_number("page_size", 20, MAX_PAGE_SIZE)
        with engine.connect() as connection:
            user = signed_in_user(connection)
            statement = visible_books(user).order_by(books.c.created_at.desc(), books.c.id.desc())
            total = connection.scalar(
                select(func.count()).select_from(statement.order_by(None).subquery())
            )
            rows = connection.execute(statement.limit(page_size).offset((page - 1) * page_size))
            items = [book_json(row) for row in rows]
        total = total or 0
        links = []
        for relation, number in (("prev", page - 1), ("next", page + 1)):
            if (relation == "prev" and number >= 1) or (
                relation == "next" and page * page_size < total
            ):
                query = {**request.args.to_dict(), "page": number, "page_size": page_size}
                links.append(f'<{request.base_url}?{urlencode(query)}>; rel="{relation}"')
        body = {"items": items, "total": total, "page": page, "page_size": page_size}
        return jsonify(body), 200, ({"Link": ", ".join(links)} if links else {})

    @app.get("/api/v1/books/<int:book_id>")
    def get_book(book_id: int) -> Response:
        with engine.connect() as connection:
            user = signed_in_user(connection)
            row = connection.execute(visible_books(user).where(books.c.id == book_id)).first()
        if row is None:
            raise ApiError(404, "No such book.")
        return jsonify(book_json(row))

    @app.post("/api/v1/books")
    def create_book() -> tuple[Response, int, dict[str, str]]:
        body = request.get_json()
        if not isinstance(body, dict) or set(body) - BOOK_FIELDS:
            raise ApiError(422, "unknown or read-only fields")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > 5000
        ):
            raise ApiError(422, "description must be at most 5000 characters")
        fields = {
            "title": text_field(body, "title", longest=200, required=True),
            "author": text_field(body, "author", longest=200, required=True),
            "isbn": valid_isbn(body.get("isbn")),
            "published_year": valid_year(body.get("published_year")),
            "description": description,
        }
        with engine.connect() as connection:
            user = signed_in_user(connection)
            if fields["isbn"] is not None and connection.scalar(
                select(exists().where(books.c.owner_id == user.id, books.c.isbn == fields["isbn"]))
            ):
                raise ApiError(409, "You already have a book with this ISBN.")
            now = stored(utcnow())
            row = connection.execute(
                insert(books)
                .values(owner_id=user.id, created_at=now, updated_at=now, **fields)
                .returning(*books.c)
            ).one()
            connection.commit()
        return jsonify(book_json(row)), 201, {"Location": f"/api/v1/books/{row.id}"}

    @app.post("/api/v1/auth/login")
    def login() -> tuple[Response, int, dict[str, str]]:
        body = request.get_json()
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            raise ApiError(422, "email and password are required")
        with engine.connect() as connection:
            user = connection.execute(
                select(users).where(users.c.email == email.strip().lower())
            ).first()
            try:
                matches = PASSWORD_HASHER.verify(
                    user.password_hash if user else dummy_hash(), password
                )
            except (VerificationError, InvalidHashError):
                matches = False
            if not matches or user is None or not user.is_active:
                raise ApiError(401, "The email or password is not correct.")
            if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
                raise ApiError(500, "the baseline does not re-hash")
            family_id, refresh_jti = str(uuid.uuid4()), str(uuid.uuid4())
            connection.execute(
                insert(token_families).values(
                    id=family_id, user_id=user.id, expires_at=stored(utcnow() + refresh_lifetime)
                )
            )
            connection.execute(insert(refresh_tokens).values(jti=refresh_jti, family_id=family_id))
            claims = {"role": user.role, "fam": family_id}
            pair = {
                "access_token": token(user, "access", access_lifetime, claims),
                "refresh_token": token(
                    user, "refresh", refresh_lifetime, {**claims, "jti": refresh_jti}
                ),
                "token_type": "bearer",
                "expires_in": int(access_lifetime.total_seconds()),
            }
            connection.commit()
        return jsonify(pair), 200, NO_STORE

    return app


app = create_app()
