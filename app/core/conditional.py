"""Conditional requests on single resources (RFC 9110 §13): no lost updates, no needless bodies.

A versioned row carries a counter that SQLAlchemy bumps on every UPDATE and checks in its
WHERE clause (``version_id_col``); its ``ETag`` is the counter and the time of the last write
(see ``etag_of``). A write sent with a stale
``If-Match`` is refused with 412 before anything changes; two writers racing with the same one
both pass that check, and the database lets only the first UPDATE match: the second's flush
raises StaleDataError, which ``app/core/errors.py`` answers 412. ``If-None-Match`` on a read
answers 304 without a body. ``IF_MATCH_REQUIRED`` makes writes without ``If-Match`` 428.

Views wear one decorator, ``@conditional(blp)`` (``@conditional(blp, load)`` on writes),
directly above the function: it reads what the view returns (an object, not yet a response),
so it must sit below ``@blp.response``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import marshmallow as ma
from flask import Response, g, request
from flask_smorest import Blueprint, abort
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from werkzeug.http import quote_etag

from app.core.errors import STALE_ETAG
from app.core.extensions import TimestampMixin
from app.core.openapi import HEADERS
from app.core.settings import current_settings

View = TypeVar("View", bound=Callable[..., Any])

ETAG = {"ETag": HEADERS["ETag"]}
MISSING = "Send If-Match with the ETag you read: this server refuses unconditional changes."


class Versioned(TimestampMixin):
    """A ``version`` column that every UPDATE (and DELETE) checks and bumps, and the
    mapper argument that tells SQLAlchemy so. Rows written without it (an older release) get 1.
    """

    version: Mapped[int] = mapped_column(server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 (SQLAlchemy's declared_attr)
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


def etag_of(item: Versioned) -> str:
    """The entity tag of ``item``'s current state, unquoted (werkzeug's form): its version,
    and the time of its last write. The previous release, which has no version column, still
    moves that time when it writes during a rolling deploy, so its changes change the tag too.
    """
    written = round(item.updated_at.timestamp() * 1_000_000)
    return f"{item.version}.{written}"


def etag_header(item: Versioned) -> dict[str, str]:
    return {"ETag": quote_etag(etag_of(item))}


# Room for a list of ETags; a longer header is no ETag this server gave out.
ETAG_LIST_LENGTH = 1024


class IfMatchHeaders(ma.Schema):
    if_match = ma.fields.String(
        data_key="If-Match",
        validate=ma.validate.Length(max=ETAG_LIST_LENGTH),
        metadata={
            "description": "The ETag you read: the change happens only if it is still the "
            "current one (else 412). `*`: any version."
        },
    )


class IfNoneMatchHeaders(ma.Schema):
    if_none_match = ma.fields.String(
        data_key="If-None-Match",
        validate=ma.validate.Length(max=ETAG_LIST_LENGTH),
        metadata={"description": "The ETag you have: 304 without a body if it is still current"},
    )


# Built once: webargs builds a schema given as a class anew on every request it parses,
# and these are parsed on every conditional request.
IF_MATCH_HEADERS, IF_NONE_MATCH_HEADERS = IfMatchHeaders(), IfNoneMatchHeaders()


def conditional(
    blp: Blueprint, load: Callable[..., Versioned] | None = None
) -> Callable[[View], View]:
    """Give a view of one versioned item its ``ETag`` and its preconditions.

    ``get``: ``ETag``, and 304 for a current ``If-None-Match``. ``post`` (201): the new
    item's ``ETag``. ``patch`` and ``delete``: ``If-Match`` checked first, for which ``load``
    takes the view's path arguments and returns the item (404 if it is not the caller's).
    """

    def decorate(view: View) -> View:
        method = view.__name__
        if method not in ("get", "post", "patch", "delete"):
            raise TypeError(f"conditional() fits get, post, patch and delete, not {method}")
        checks_if_match = method in ("patch", "delete")
        if checks_if_match and load is None:
            raise TypeError(f"conditional() on {method} needs load, to check If-Match first")

        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if method != "post":
                args = args[:-1]  # the headers webargs parsed (read from werkzeug below)
            if checks_if_match:
                check_if_match(cast(Callable[..., Versioned], load), kwargs)
            result = view(*args, **kwargs)
            if method == "delete":
                return result
            item, status, headers = unpack(result)
            if method == "get" and request.if_none_match.contains_weak(etag_of(item)):
                return Response(status=304, headers=etag_header(item))
            return item, status, {**headers, **etag_header(item)}

        documented: Any = checked
        if method == "get":
            documented = blp.arguments(IF_NONE_MATCH_HEADERS, location="headers")(documented)
            documented = blp.alt_response(
                304,
                description="Not modified: the ETag you sent is current",
                headers=ETAG,
                success=True,
            )(documented)
        if checks_if_match:
            documented = blp.arguments(IF_MATCH_HEADERS, location="headers")(documented)
            documented = blp.alt_response(412, response="PRECONDITION_FAILED")(documented)
            documented = blp.alt_response(428, response="PRECONDITION_REQUIRED")(documented)
            # Another write between this one's read and its own: see app/core/errors.py.
            documented = blp.alt_response(409, response="CONFLICT")(documented)
        success = {"get": 200, "post": 201, "patch": 200}.get(method)
        if success is not None:
            documented = blp.doc(responses={success: {"headers": ETAG}})(documented)
        return cast(View, documented)

    return decorate


def check_if_match(load: Callable[..., Versioned], path_args: dict[str, Any]) -> None:
    """412 when If-Match names another version than the item's; 428 when it is required and
    missing. The item is loaded into the request's session, where the view finds it again.

    The session's identity map holds objects weakly, so the request keeps the checked item
    (``g``): else it could be collected before the view loads it again, which would read the
    row anew, and the UPDATE would check a version newer than the one If-Match was compared
    with (a lost update)."""
    if "If-Match" not in request.headers:
        if current_settings().if_match_required:
            abort(428, message=MISSING)
        return
    item = g.if_match_checked = load(**path_args)
    if not request.if_match.star_tag and not request.if_match.contains(etag_of(item)):
        abort(412, message=STALE_ETAG, headers=etag_header(item))


def unpack(result: Any) -> tuple[Any, int | None, dict[str, str]]:
    """A view's return value as (item, status, headers), the forms flask-smorest accepts."""
    if not isinstance(result, tuple):
        return result, None, {}
    if len(result) == 3:
        return result[0], result[1], dict(result[2])
    if isinstance(result[1], int):
        return result[0], result[1], {}
    return result[0], None, dict(result[1])
