"""Every error leaves the service as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import http
import logging
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask import Flask, Response, current_app, g, json, request
from flask_smorest import Api, abort
from flask_smorest.utils import prepare_response
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.routing import Rule

from app.core.openapi import (
    DOCUMENT_OPTIONS,
    HTTP_METHODS,
    OperationConventions,
    response_headers,
)
from app.core.settings import current_settings

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
# (endpoint, METHOD) -> JsonBody, for each operation whose document takes a JSON body
JSON_BODIES = "app.json_bodies"


@dataclass(frozen=True)
class JsonBody:
    """What an operation's document says of its JSON request body."""

    media_types: frozenset[str]
    required: bool


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, plus the request id and any field errors. A request refused
    before the app (by gunicorn) gets no instance or request id."""

    type = ma.fields.String(required=True, metadata={"description": "URI of the problem type"})
    title = ma.fields.String(
        required=True, metadata={"description": "Short summary of the problem type"}
    )
    status = ma.fields.Integer(required=True, metadata={"description": "HTTP status code"})
    detail = ma.fields.String(
        required=True, metadata={"description": "What went wrong with this request"}
    )
    instance = ma.fields.String(metadata={"description": "The path that was requested"})
    request_id = ma.fields.String(metadata={"description": "Quote it when reporting a problem"})
    errors = ma.fields.Dict(
        metadata={"description": "Field errors keyed by location (json, query, ...) and field"}
    )


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> Response:
    """Build a problem+json response; extra ``members`` become extension members."""
    phrase = http.HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail or phrase,
        "instance": request.path,
        "request_id": g.get("request_id"),
        **members,
    }
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_CONTENT_TYPE)
    response.headers.extend(headers or {})
    return response


class ErrorResponses(BasePlugin):
    """Document, on every operation, the errors any request to it can meet.

    Views declare only the errors of their own rules (403, 409, 429); this adds the ones the
    framework raises, from what the operation looks like: it takes a body (400 malformed,
    422 invalid, and 415 for another media type than a JSON body's), has a path parameter
    (404), needs a token (401). Every request can be too large (413), meet a bug (500) or
    find the database unavailable (503).

    It also records which operations take a JSON body, for ``refuse_unreadable_body``.
    """

    def __init__(self, json_bodies: dict[tuple[str, str], JsonBody]) -> None:
        self.json_bodies = json_bodies

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        for method, operation in (operations or {}).items():
            if method not in HTTP_METHODS:
                continue
            statuses = [413, 500, 503]
            body = operation.get("requestBody")
            if body:
                statuses += [400, 422]
            if body and any(is_json(media_type) for media_type in body["content"]):
                statuses.append(415)
                if rule is not None:
                    key = (str(rule.endpoint), method.upper())
                    self.json_bodies[key] = JsonBody(
                        frozenset(body["content"]), bool(body.get("required"))
                    )
            if operation.get("parameters"):
                statuses.append(422)
            if rule is not None and rule.arguments:
                statuses.append(404)
            if operation.get("security"):
                statuses.append(401)
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}
            for status in statuses:
                if str(status) not in documented:
                    responses[status] = http.HTTPStatus(status).name


class ProblemApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting and answering every error as a problem."""

    ERROR_SCHEMA = ProblemSchema

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        json_bodies = app.extensions.setdefault(JSON_BODIES, {})
        spec_kwargs = {**DOCUMENT_OPTIONS, **(spec_kwargs or {})}
        spec_kwargs["extra_plugins"] = [
            *spec_kwargs.get("extra_plugins", ()),
            ErrorResponses(json_bodies),
            OperationConventions(),
        ]
        super().init_app(app, spec_kwargs=spec_kwargs)

    def _register_responses(self) -> None:
        # Documented error responses carry the same media type the handler sends.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {
                "description": status.phrase,
                "headers": response_headers(status),
            }
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {
            "description": "Default error response",
            "schema": self.ERROR_SCHEMA,
            "headers": response_headers(0),
        }
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

    def _register_pagination_header(self) -> None:
        """None: lists answer a page envelope and a Link header, not flask-smorest's
        X-Pagination, whose schema would otherwise sit unused in the document."""

    def handle_http_exception(self, error: HTTPException) -> Response:
        """Answer every HTTPException (and, through Flask, every unhandled one) as a problem."""
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        # Werkzeug adds headers such as Allow (405); drop its text/html Content-Type.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                headers.setdefault(name, value)
        detail = data.get("message")
        if isinstance(getattr(error, "exc", None), ValueError) and status == 400:
            # webargs' JSONDecodeError or UnicodeDecodeError, both ValueErrors
            detail = "The request body is not valid JSON."
        if detail is None and status < 500:
            detail = error.description
        return problem(
            status,
            detail,
            errors=data.get("errors") or data.get("messages"),
            headers=headers,
        )


def init_request_checks(app: Flask) -> None:
    """Refuse bodies the API cannot read, before any view (or the token check) runs.

    Register it after the request id is assigned, so these problems carry it too.
    """
    app.before_request(refuse_unreadable_body)
    app.register_error_handler(IntegrityError, integrity_conflict)
    app.register_error_handler(StaleDataError, lost_race)
    app.register_error_handler(RecursionError, json_nested_too_deep)
    app.register_error_handler(DataError, unstorable_value)
    app.register_error_handler(DBAPIError, database_unavailable)
    app.register_error_handler(PoolTimeoutError, database_unavailable)


def refuse_unreadable_body() -> None:
    """413 from the Content-Length alone, without reading a byte of the body; 415 when an
    operation that reads a JSON body is sent another media type, which webargs would
    ignore, answering as if no body had been sent; 422 when the document says the body is
    required and none came (webargs would read it as ``{}``). (A form endpoint, such as the
    OAuth2 token endpoint, answers a wrong body in its own protocol's words.)"""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"The request body is larger than {limit} bytes.")
    body = current_app.extensions[JSON_BODIES].get((request.endpoint, request.method))
    if body is None:
        return
    has_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if has_body and request.mimetype not in body.media_types:
        raise UnsupportedMediaType(f"Send the body as {' or '.join(sorted(body.media_types))}.")
    if not has_body and body.required:
        abort(
            422,
            message="This operation needs a JSON body.",
            errors={"json": {"_schema": ["Missing request body."]}},
        )


def is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def unstorable_value(error: DataError) -> Response:
    """A value validation let through but the database cannot hold: the client's to fix."""
    log.warning("data error answered as 422: %s", str(error.orig).splitlines()[0])
    return problem(422, "A value in the request cannot be stored.")


def integrity_conflict(error: IntegrityError) -> Response:
    """A constraint the database enforced that the service did not check first: 409, not 500.

    Services check their rules and name the field; this is the safety net for the rest.
    The session is rolled back when the request's context ends.
    """
    # The driver's first line names the constraint; later lines may quote the values.
    log.warning("integrity error answered as 409: %s", str(error.orig).splitlines()[0])
    return problem(409, "The request conflicts with data already stored.")


STALE_ETAG = "The resource has changed since the ETag you sent in If-Match. Read it again."


def lost_race(error: StaleDataError) -> Response:
    """Another request changed or deleted the row between this one's read and its write: the
    version check of the UPDATE or DELETE matched nothing, and nothing was changed. 412 when
    the client sent If-Match (its version is no longer current), else 409: read and retry."""
    log.info("write lost a race for a versioned row: %s", first_line(error))
    if "If-Match" in request.headers:
        return problem(412, STALE_ETAG)
    return problem(409, "Another request changed this resource at the same time. Read it again.")


def json_nested_too_deep(error: RecursionError) -> Response:
    """Python's JSON decoder (webargs reads bodies with it) gives up on a body nested deeper
    than the recursion limit: a malformed request, not a bug. Any other RecursionError is one."""
    if "while decoding a JSON" not in str(error):
        raise error
    return problem(400, "The JSON body is nested too deeply to read.")


DATABASE_UNAVAILABLE = "The database is unavailable. Try again after the Retry-After delay."


def database_unavailable(error: DBAPIError | PoolTimeoutError) -> Response:
    """503 with Retry-After when the database cannot serve now (``app/core/database.py`` says
    which errors mean that), or when every pooled connection stayed busy; any other database
    error is a bug and takes the 500 path, logged with its traceback.

    Logged once, without a traceback: the request id, the driver's exception class and the
    first line of its message (which never reaches the client).
    """
    if isinstance(error, DBAPIError) and not error.connection_invalidated:
        raise error  # Flask answers an error handler's exception as an unhandled one: 500
    cause = driver_error(error)
    log.error(
        "database unavailable, answered 503: %s: %s",
        type(cause).__name__,
        first_line(cause),
        extra={"error.type": qualified_name(cause), "error.message": first_line(cause)},
    )
    return problem(503, DATABASE_UNAVAILABLE, headers=retry_after())


def retry_after() -> dict[str, str]:
    """The Retry-After header of a 503: when a client should try again."""
    return {"Retry-After": str(current_settings().database_retry_after)}


def driver_error(error: BaseException) -> BaseException:
    """The database driver's own exception inside SQLAlchemy's wrapper, else ``error``."""
    return (error.orig or error) if isinstance(error, DBAPIError) else error


def qualified_name(error: BaseException) -> str:
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


def first_line(error: BaseException) -> str:
    return next(iter(str(error).splitlines()), "")
