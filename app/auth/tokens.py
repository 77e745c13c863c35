"""Signed tokens (JWT, HMAC, PyJWT): issued and verified here, nowhere else.

A token carries ``sub`` (the user id), ``type`` (``access`` or ``refresh``), ``jti``,
``iat``, ``nbf``, ``exp`` and the claims its caller adds. Verifying checks the signature with
the one configured algorithm, the times, and the type, and it happens once per request.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Literal

import jwt
from flask import current_app

from app.core.extensions import utcnow
from app.core.settings import current_settings

TokenType = Literal["access", "refresh"]
REQUIRED_CLAIMS = ["sub", "type", "iat", "nbf", "exp"]
WRONG_TYPE = {
    "access": "A refresh token was presented as an access token.",
    "refresh": "An access token was presented as a refresh token.",
}


class InvalidToken(Exception):  # noqa: N818 - reads as the condition it reports
    """A token that must not be honoured; its message is the 401's detail."""


def issue(subject: str, kind: TokenType, claims: dict[str, Any], lifetime: timedelta) -> str:
    now = utcnow()
    payload = {
        "jti": str(uuid.uuid4()),
        **claims,
        "sub": subject,
        "type": kind,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    }
    key = current_app.config["JWT_SECRET_KEY"]
    return jwt.encode(payload, key, algorithm=current_settings().jwt_algorithm)


def verify(token: str, kind: TokenType) -> dict[str, Any]:
    """The claims of a genuine, current token of this kind; InvalidToken otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            current_app.config["JWT_SECRET_KEY"],
            algorithms=[current_settings().jwt_algorithm],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("The token is malformed or its signature is invalid.") from None
    if claims["type"] != kind:
        raise InvalidToken(WRONG_TYPE[kind])
    return claims
