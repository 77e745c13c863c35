"""``Idempotency-Key`` on creating requests: a retried POST answers what the first one did.

Following the IETF httpapi draft "The Idempotency-Key HTTP Header Field": the first request
with a key runs, and its answer (status, ``Location``, body) is stored with the key, scoped to
the caller and the operation, with a fingerprint of the request (method, path, body). A repeat
with the same fingerprint gets the stored answer again, marked ``Idempotent-Replayed: true``;
with another fingerprint, 422; while the first still runs, 409. ``IDEMPOTENCY_KEY_REQUIRED``
makes the header required (400 without it); keys expire after ``IDEMPOTENCY_KEY_EXPIRES``
seconds and beat purges them.

The key's row is inserted, before the view runs, into the request's own transaction, so the
service's single commit writes the key with the work and a rolled-back request leaves neither:
a 5xx (or a crash) before that commit frees the key for the retry. The unique constraint on
(user, operation, key) makes a concurrent repeat wait at its own insert until the first
commits (PostgreSQL and MariaDB lock the index entry; SQLite has one writer at a time) and then
fail it, so the work never runs twice. The answer itself is known only once the view returns:
it is recorded in a second, small commit right after, and until then a repeat gets 409 (as it
does until expiry if the process dies in between, or if the answer after a committed change is
a 5xx: the work is done, so the key is kept rather than let it run again).
A 4xx the request itself caused is stored too (after rolling back whatever the view began),
so a retried invalid request keeps its answer; 401, 403, 404, 408, 409 and 429 depend on the
moment, not on the request, and are not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import marshmallow as ma
from celery import shared_task
from flask import Response, after_this_request, g, request
from flask_smorest import Blueprint, abort
from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from app.core.caller import caller_id
from app.core.database import is_lock_conflict
from app.core.extensions import Base, UTCDateTime, db, utcnow
from app.core.openapi import HEADERS
from app.core.settings import current_settings

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_LENGTH = 255
# Response headers worth replaying; the others (request id, rate limits) belong to each answer.
STORED_HEADERS = ("Content-Type", "Location", "ETag")
# 4xx answers that depend on the moment rather than on the request: a retry may fare better.
NOT_STORED = frozenset({401, 403, 404, 408, 409, 423, 425, 429})
IN_FLIGHT = "A request with this Idempotency-Key is still being processed. Retry later."
REUSED = "This Idempotency-Key was used with a different request (method, path or body)."

REPLAYED_HEADER = {REPLAYED: HEADERS[REPLAYED]}
# LONGTEXT on MySQL/MariaDB, whose TEXT holds only 64 KiB.
BODY = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class IdempotencyKey(Base):
    """A key a client sent with a creating request, and the answer that request got."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "operation", "key", name="uq_idempotency_keys_user_id"),
        {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(200))  # endpoint and method
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    # None while the first request runs; then its answer.
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    body: Mapped[str | None] = mapped_column(BODY)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IdempotencyKeyHeaders(ma.Schema):
    key = ma.fields.String(
        data_key=HEADER,
        validate=ma.validate.Length(min=1, max=KEY_LENGTH),
        metadata={
            "description": "A unique value (e.g. a UUID) per intended operation: a retry with "
            "the same key and the same request gets the first answer again instead of "
            "running twice. Kept for IDEMPOTENCY_KEY_EXPIRES seconds (default 24 h).",
            "example": "7f1c7b2e-8d4e-4f57-9a43-0c8f2c1f3b6a",
        },
    )


# Built once: webargs builds a schema given as a class anew on every request it parses,
# and this one is parsed on every create.
IDEMPOTENCY_KEY_HEADERS = IdempotencyKeyHeaders()


def idempotent(blp: Blueprint) -> Callable[[View], View]:
    """Make a creating view honour ``Idempotency-Key``; place it right below the login check,
    above ``@blp.arguments``, so that a refused body is an answer it stores too."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def once(*args: Any, **kwargs: Any) -> Any:
            key = args[-1].get("key")  # the headers, appended by the webargs layer below
            args = args[:-1]
            if key is None:
                if current_settings().idempotency_key_required:
                    abort(400, message=f"This operation requires the {HEADER} header.")
                return view(*args, **kwargs)
            answer = claim(key)
            if answer is not None:
                return answer
            return view(*args, **kwargs)

        documented = blp.arguments(IDEMPOTENCY_KEY_HEADERS, location="headers")(once)
        for status in getattr(view, "_apidoc", {}).get("success_status_codes", ()):
            documented = blp.doc(responses={status: {"headers": REPLAYED_HEADER}})(documented)
        documented = blp.alt_response(409, response="CONFLICT")(documented)
        documented = blp.alt_response(422, response="UNPROCESSABLE_ENTITY")(documented)
        return cast(View, blp.alt_response(400, response="BAD_REQUEST")(documented))

    return decorate


def fingerprint() -> str:
    """SHA-256 of the method, the path with its query, and the body; a JSON body is hashed
    in canonical form, so the same document sent with other spacing or key order matches."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    # Not JSON, not UTF-8, or nested too deep to parse: the bytes as sent, and the view's own
    # parser answers the client.
    except (ValueError, RecursionError):
        body = raw
    digest = hashlib.sha256(f"{request.method} {request.full_path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def claim(key: str) -> Response | None:
    """Take ``key`` for this request (None: run the view), or the answer an earlier request
    with it earns this one (a replay, 409 or 422)."""
    user_id, operation, now = (
        caller_id(),
        f"{request.endpoint}:{request.method}",
        utcnow(),
    )
    request_print = fingerprint()
    found = stored(user_id, operation, key)
    if found is not None and found.expires_at > now:
        return answer_to_repeat(found, request_print)
    if found is not None:  # expired but not yet purged: the key is free again
        db.session.delete(found)
        db.session.flush()  # before the insert below, which a flush would order first
    row = IdempotencyKey(
        user_id=user_id,
        operation=operation,
        key=key,
        fingerprint=request_print,
        created_at=now,
        expires_at=now + timedelta(seconds=current_settings().idempotency_key_expires),
    )
    db.session.add(row)
    try:
        db.session.flush()  # waits here while a concurrent request holds the same key
    except IntegrityError:
        db.session.rollback()
        found = stored(user_id, operation, key)
        return answer_to_repeat(found, request_print) if found else in_flight()
    except Exception as error:
        if not is_lock_conflict(error):
            raise
        db.session.rollback()  # a deadlock between waiters for a key a request gave back
        return in_flight()
    g.idempotency_key = row
    after_this_request(record_answer)
    return None


def stored(user_id: int, operation: str, key: str) -> IdempotencyKey | None:
    return db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.operation == operation,
            IdempotencyKey.key == key,
        )
    )


def answer_to_repeat(found: IdempotencyKey, request_print: str) -> Response:
    if found.fingerprint != request_print:
        abort(422, message=REUSED, errors={"headers": {HEADER: [REUSED]}})
    if found.status is None:
        return in_flight()
    response = Response(found.body, status=found.status, headers=found.headers or {})
    response.headers[REPLAYED] = "true"
    return response


def in_flight() -> Response:
    abort(409, message=IN_FLIGHT, headers={"Retry-After": "1"})
    raise AssertionError("unreachable")  # abort raises


def record_answer(response: Response) -> Response:
    """Store the answer with the key (2xx, or a 4xx the request caused); on anything else the
    key goes with the request's rolled-back transaction. Never fails the response."""
    row: IdempotencyKey = g.pop("idempotency_key")
    status = response.status_code
    try:
        if status < 300:
            keep(row, response)
            db.session.commit()
        elif status < 500 and status not in NOT_STORED:
            # Nothing the view began may be committed with it: start again from a clean slate.
            db.session.rollback()
            answered = detached_copy(row)
            keep(answered, response)
            db.session.add(answered)
            db.session.commit()
        else:
            db.session.rollback()
    except Exception:
        db.session.rollback()
        log.exception("could not record the answer to Idempotency-Key request; it stays 409")
    return response


def keep(row: IdempotencyKey, response: Response) -> None:
    row.status = response.status_code
    row.headers = {
        name: response.headers[name] for name in STORED_HEADERS if name in response.headers
    }
    row.body = response.get_data(as_text=True)


def detached_copy(row: IdempotencyKey) -> IdempotencyKey:
    """A new row with ``row``'s identity, for a session that rolled the original back."""
    return IdempotencyKey(
        user_id=row.user_id,
        operation=row.operation,
        key=row.key,
        fingerprint=row.fingerprint,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def purge_expired(now: datetime) -> int:
    removed = db.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
    ).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return int(removed or 0)


@shared_task
def purge_expired_idempotency_keys() -> int:
    """Delete keys past their expiry (beat runs this periodically)."""
    removed = purge_expired(utcnow())
    log.info("purged %s expired idempotency keys", removed)
    return removed
