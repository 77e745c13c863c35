"""What the OpenAPI document says beyond each view's decorators: the document's own identity,
operation ids, and the headers clients read on every response.

Generated clients name their functions after operation ids, so an id is part of the contract:
it comes from the blueprint and the path (which a client already depends on), never from a
view's class name (which a refactoring may change without anyone noticing).
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec, BasePlugin
from werkzeug.routing import Rule

from app.core import project

DOCUMENT_OPTIONS: dict[str, Any] = {
    # Relative: the document is served by the API it describes, and the OAuth2 tokenUrl
    # resolves against it.
    "servers": [{"url": "/"}],
    "info": {
        "description": project.DESCRIPTION
        + " Errors are RFC 9457 problem details (application/problem+json). Responses of"
        " rate-limited operations carry the X-RateLimit-* headers; a 429 or 503 says when to"
        " retry (Retry-After). Every response carries X-Request-ID.",
        "license": {"name": project.LICENSE, "identifier": project.LICENSE},
    },
}

# Flask-Limiter sends the X-RateLimit-* fields (it cannot send the IETF draft's RateLimit and
# RateLimit-Policy structured fields), on every response of a limited operation.
RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
REQUEST_ID = "X-Request-ID"


def count_header(description: str) -> dict[str, Any]:
    """A header whose value is a count (of seconds or requests)."""
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


HEADERS: dict[str, dict[str, Any]] = {
    REQUEST_ID: {
        "description": "The request's id (the client's own X-Request-ID when it sent a usable "
        "one); quote it when reporting a problem",
        "schema": {"type": "string", "maxLength": 128},
    },
    "Retry-After": count_header("Seconds to wait before trying again"),
    "X-RateLimit-Limit": count_header("Requests allowed in the current window"),
    "X-RateLimit-Remaining": count_header("Requests left in the current window"),
    "X-RateLimit-Reset": count_header(
        "When the current window ends, in seconds since the Unix epoch"
    ),
    "ETag": {
        "description": "The version of what was read or written; send it back in If-Match "
        "to change it only if nobody else has, or in If-None-Match to skip an unchanged body",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "true: this is the stored answer to an earlier request with the same "
        "Idempotency-Key, which did not run again",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
# Headers every answer with this status carries, whichever operation it comes from.
STATUS_HEADERS: dict[int, tuple[str, ...]] = {
    409: ("Retry-After",),  # a request with the same Idempotency-Key still running
    412: ("ETag",),  # the current version, when If-Match named another
    422: ("Idempotent-Replayed",),  # a refused body, replayed for its Idempotency-Key
    429: ("Retry-After", *RATE_LIMIT_HEADERS),
    503: ("Retry-After",),
}
# Operation id suffixes: a collection's GET lists and its POST creates; one item's verbs.
COLLECTION_ACTIONS = {"get": "list", "post": "create"}
ITEM_ACTIONS = {"get": "get", "patch": "update", "put": "replace", "delete": "delete"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def response_headers(status: int) -> dict[str, str]:
    """The headers of a response component for ``status``, by name (apispec makes them refs)."""
    return {name: name for name in (REQUEST_ID, *STATUS_HEADERS.get(status, ()))}


def register_headers(spec: APISpec) -> None:
    for name, header in HEADERS.items():
        spec.components.header(name, header, lazy=True)  # only those in use are written


def operation_id(blueprint: str, path: str, method: str) -> str:
    """``books_list`` for GET /api/v1/books, ``books_get`` for GET /api/v1/books/{book_id},
    ``auth_password_reset_confirm`` for POST /api/v1/auth/password-reset/confirm.

    The path's literal segments after the blueprint's own name (all of them when the path does
    not name it) say what the operation acts on; none left means the resource itself, a
    collection or, when the path ends in a parameter, one item.
    """
    segments = [s for s in path.strip("/").split("/") if s]
    literal = [s.replace("-", "_") for s in segments if not s.startswith("{")]
    if blueprint in literal:
        literal = literal[literal.index(blueprint) + 1 :]
    if not literal:
        on_item = bool(segments) and segments[-1].startswith("{")
        action = (ITEM_ACTIONS if on_item else COLLECTION_ACTIONS).get(method, method)
        return f"{blueprint}_{action}"
    name = "_".join(literal)
    if method in ("get", "post"):
        return f"{blueprint}_{name}"
    return f"{blueprint}_{name}_{ITEM_ACTIONS.get(method, method)}"


class OperationConventions(BasePlugin):
    """Give every operation an id, a description and the headers it answers with.

    An id set by hand (``@blp.doc(operationId=...)``) stands; two operations with one id stop
    the document from being built, as two generated functions with one name would collide.
    """

    def __init__(self) -> None:
        self.taken: dict[str, str] = {}

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        register_headers(spec)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        if rule is None or path is None:
            return
        blueprint = str(rule.endpoint).split(".")[0]
        for method, operation in (operations or {}).items():
            if method not in HTTP_METHODS:
                continue
            where = f"{method.upper()} {path}"
            identifier = operation.setdefault("operationId", operation_id(blueprint, path, method))
            if self.taken.get(identifier, where) != where:
                raise ValueError(
                    f"operationId {identifier!r} of {where} is taken by {self.taken[identifier]}: "
                    "give one of them its own with @blp.doc(operationId=...)"
                )
            self.taken[identifier] = where
            # A docstring's first line becomes the summary; some tools show only a description.
            operation.setdefault("description", operation.get("summary", ""))
            limited = "429" in {str(status) for status in operation.get("responses", {})}
            for status, response in operation.get("responses", {}).items():
                if not isinstance(response, dict):  # a component's name: it has its own headers
                    continue
                headers = response.setdefault("headers", {})
                headers.setdefault(REQUEST_ID, REQUEST_ID)
                if limited and str(status).startswith("2"):
                    for name in RATE_LIMIT_HEADERS:
                        headers.setdefault(name, name)
