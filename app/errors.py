"""Every error leaves the service as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

import http
from typing import Any

import marshmallow as ma
from flask import Response, g, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, plus the request id and any field errors."""

    type = ma.fields.String(metadata={"description": "URI of the problem type"})
    title = ma.fields.String(metadata={"description": "Short summary of the problem type"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
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


class ProblemApi(Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting and answering every error as a problem."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # Documented error responses carry the same media type the handler sends.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)

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
        if detail is None and status < 500:
            detail = error.description
        return problem(
            status,
            detail,
            errors=data.get("errors") or data.get("messages"),
            headers=headers,
        )
