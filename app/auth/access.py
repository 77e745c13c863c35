"""Who is calling: token checks, the current user, and the guard that protected views wear."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, g, request
from flask_smorest import Blueprint, abort

from app.auth.models import User
from app.auth.service import user_for_access_token
from app.auth.tokens import InvalidToken, verify
from app.core.caller import record_caller
from app.core.errors import problem
from app.core.rate_limits import WRITE_METHODS, per_user_writes

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"oauth2": []}]
SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "oauth2": {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}},
    },
}

View = TypeVar("View", bound=Callable[..., Any])


def token_problem(detail: str) -> Response:
    """401 with the RFC 6750 challenge that tells a client to get a new token."""
    return problem(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def init_token_checks(app: Flask) -> None:
    """Every token failure answers 401 problem+json with the RFC 6750 challenge."""
    app.register_error_handler(InvalidToken, lambda error: token_problem(str(error)))


def authenticate() -> User:
    """Verify the request's bearer token (once: the signature, the times, the type) and load
    its user in one query that also checks the sign-in has not been revoked."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("No access token: send Authorization: Bearer <token>.")
    claims = verify(token.strip(), "access")
    user = user_for_access_token(claims)
    if user is None:
        raise InvalidToken("The token has been revoked or its account is inactive.")
    g.access_claims, g.current_user = claims, user
    record_caller(user.id)
    return user


def current_user() -> User:
    return cast(User, g.current_user)


def access_claims() -> dict[str, Any]:
    """The verified claims of the request's access token."""
    return cast(dict[str, Any], g.access_claims)


def current_family() -> str:
    return cast(str, access_claims()["fam"])


def login_required(blp: Blueprint, *, admin: bool = False) -> Callable[[View], View]:
    """Require a valid access token (and the admin role), and say so in the OpenAPI document.

    A write (a MethodView's post, put, patch or delete) also counts against its user's
    RATELIMIT_WRITES, checked once the token has said who the user is.
    """

    def decorate(view: View) -> View:
        if view.__name__ in WRITE_METHODS:
            view = per_user_writes(blp)(view)

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = authenticate()
            if admin and not user.is_admin:
                abort(403, message="This operation is for administrators.")
            return view(*args, **kwargs)

        documented = blp.alt_response(401, response="UNAUTHORIZED")(guarded)
        if admin:
            documented = blp.alt_response(403, response="FORBIDDEN")(documented)
        return cast(View, blp.doc(security=SECURITY)(documented))

    return decorate
