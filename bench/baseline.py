"""The bare baseline: the benchmarked endpoints in plain Flask, SQLAlchemy Core and PyJWT.

It sends the database the same SQL as the template (the one-query token check, the count and
page queries, the ISBN check, INSERT ... RETURNING) and answers with the same JSON, with none
of the template's layers: no flask-smorest or marshmallow, no ORM, no flask-jwt-extended, no
rate limiter, request ids or access log, and just enough input checking for the benchmark.
What the template spends above this is the price of those layers. Run by bench/run.py as
``gunicorn bench.baseline:app`` with the template's worker settings.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask, Response, abort, jsonify, request
from sqlalchemy import bindparam, create_engine, text

COLUMNS = "id, owner_id, title, author, isbn, published_year, description, created_at, updated_at"
# The template's user_for_access_token, as SQL.
SIGNED_IN_USER = text(
    "SELECT users.id, users.role FROM users JOIN token_families"
    " ON token_families.user_id = users.id"
    " WHERE users.id = :user_id AND users.is_active IS true AND token_families.id = :family_id"
    " AND token_families.revoked_at IS NULL"
)
COUNT = text(
    f"SELECT count(*) FROM (SELECT {COLUMNS} FROM books WHERE owner_id = :owner_id) AS page"
)
PAGE = text(
    f"SELECT {COLUMNS} FROM books WHERE owner_id = :owner_id"
    " ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
)
ONE = text(f"SELECT {COLUMNS} FROM books WHERE owner_id = :owner_id AND id = :id")
ISBN_TAKEN = text("SELECT EXISTS (SELECT * FROM books WHERE owner_id = :owner_id AND isbn = :isbn)")
INSERT = text(
    "INSERT INTO books (owner_id, title, author, isbn, published_year, description,"
    " created_at, updated_at) VALUES (:owner_id, :title, :author, :isbn, :published_year,"
    f" :description, :now, :now) RETURNING {COLUMNS}"
).bindparams(bindparam("now"))

app = Flask(__name__)
engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_pre_ping=True,
    pool_recycle=1800,
    connect_args={"connect_timeout": 5},
)
secret = os.environ["JWT_SECRET_KEY"]


def book_json(row: Any) -> dict[str, Any]:
    book = dict(row._mapping)
    for moment in ("created_at", "updated_at"):
        book[moment] = book[moment].replace(tzinfo=UTC).isoformat()
    return book


def signed_in_user(connection: Any) -> Any:
    header = request.headers.get("Authorization", "")
    try:
        claims = jwt.decode(header.removeprefix("Bearer "), secret, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        abort(401)
    if claims.get("type") != "access":
        abort(401)
    parameters = {"user_id": int(claims["sub"]), "family_id": claims["fam"]}
    return connection.execute(SIGNED_IN_USER, parameters).first() or abort(401)


@app.get("/livez")
def livez() -> Response:
    return jsonify(status="ok")


@app.get("/api/v1/books")
def list_books() -> Response:
    page, page_size = int(request.args.get("page", 1)), int(request.args.get("page_size", 20))
    with engine.connect() as connection:
        user = signed_in_user(connection)
        total = connection.scalar(COUNT, {"owner_id": user.id})
        rows = connection.execute(
            PAGE, {"owner_id": user.id, "limit": page_size, "offset": (page - 1) * page_size}
        )
        items = [book_json(row) for row in rows]
    return jsonify(items=items, total=total, page=page, page_size=page_size)


@app.get("/api/v1/books/<int:book_id>")
def get_book(book_id: int) -> Response:
    with engine.connect() as connection:
        user = signed_in_user(connection)
        row = connection.execute(ONE, {"owner_id": user.id, "id": book_id}).first()
    return jsonify(book_json(row)) if row else abort(404)


@app.post("/api/v1/books")
def create_book() -> tuple[Response, int, dict[str, str]]:
    body = request.get_json()
    fields = {name: body.get(name) for name in ("title", "author", "published_year")}
    fields["isbn"] = body.get("isbn", "").replace("-", "") or None
    fields["description"] = body.get("description")
    with engine.connect() as connection:
        user = signed_in_user(connection)
        if connection.scalar(ISBN_TAKEN, {"owner_id": user.id, "isbn": fields["isbn"]}):
            abort(409)
        now = datetime.now(UTC).replace(tzinfo=None)
        row = connection.execute(INSERT, {"owner_id": user.id, "now": now, **fields}).one()
        connection.commit()
    return jsonify(book_json(row)), 201, {"Location": f"/api/v1/books/{row.id}"}
