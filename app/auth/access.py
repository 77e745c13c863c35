"""Who is calling: token checks, the current user, and the guard that protected views wear."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response
from flask_jwt_extended import JWTManager, get_current_user, get_jwt, verify_jwt_in_request
from flask_smorest import Blueprint, abort

from app.auth.models import User
from app.auth.service import InvalidToken, user_for_access_token
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


def init_token_checks(app: Flask, jwt: JWTManager) -> None:
    """Every token failure answers 401 problem+json (never flask-jwt-extended's 422)."""
    jwt.user_lookup_loader(lambda _header, claims: user_for_access_token(claims))
    reasons = {
        jwt.unauthorized_loader: "No access token: send Authorization: Bearer <token>.",
        jwt.invalid_token_loader: "The token is malformed or its signature is invalid.",
        jwt.expired_token_loader: "The token has expired.",
        jwt.revoked_token_loader: "The token has been revoked.",
        jwt.user_lookup_error_loader: "The token has been revoked or its account is inactive.",
        jwt.token_verification_failed_loader: "The token was rejected.",
        jwt.needs_fresh_token_loader: "A fresh sign-in is required.",
    }
    for register, detail in reasons.items():
        register(functools.partial(lambda detail, *_args: token_problem(detail), detail))
    app.register_error_handler(InvalidToken, lambda error: token_problem(str(error)))


def current_user() -> User:
    return cast(User, get_current_user())


def current_family() -> str:
    return cast(str, get_jwt()["fam"])


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
            verify_jwt_in_request()
            if admin and not current_user().is_admin:
                abort(403, message="This operation is for administrators.")
            return view(*args, **kwargs)

        documented = blp.alt_response(401, response="UNAUTHORIZED")(guarded)
        if admin:
            documented = blp.alt_response(403, response="FORBIDDEN")(documented)
        return cast(View, blp.doc(security=SECURITY)(documented))

    return decorate
