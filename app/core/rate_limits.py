"""Rate limits, declared in one place: per client IP on sign-in operations, per user on
authenticated writes and on the operations that start jobs.

Counters live in RATELIMIT_STORAGE_URI (Redis: shared by every worker and replica). Limits are
looked up per request, so apps with different settings coexist in one process, and every
limited operation declares its 429 in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask_jwt_extended import get_jwt_identity
from flask_smorest import Blueprint

from app.core.extensions import limiter
from app.core.settings import current_settings

View = TypeVar("View", bound=Callable[..., Any])

# MethodView dispatches on the method's name: these are the views that change something.
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
WRITES_SCOPE = "writes"  # one budget per user across every authenticated write


def limits_off() -> bool:
    return not current_settings().ratelimit_enabled


def user_key() -> str:
    """The signed-in user: only for limits checked after the token is verified."""
    return f"user:{get_jwt_identity()}"


def auth_limit() -> str:
    return current_settings().ratelimit_auth


def writes_limit() -> str:
    return current_settings().ratelimit_writes


def jobs_limit() -> str:
    return current_settings().ratelimit_jobs


def per_client(blp: Blueprint, limit: Callable[[], str]) -> Callable[[View], View]:
    """Limit the operation per client IP (as TRUSTED_PROXIES resolves it)."""
    return documented(blp, limiter.limit(limit, exempt_when=limits_off))


def per_user(blp: Blueprint, limit: Callable[[], str]) -> Callable[[View], View]:
    """Limit the operation per signed-in user; place it below ``login_required``."""
    return documented(blp, limiter.limit(limit, key_func=user_key, exempt_when=limits_off))


def per_user_writes(blp: Blueprint) -> Callable[[View], View]:
    """RATELIMIT_WRITES: one budget per user, shared by all of their writes."""
    shared = limiter.shared_limit(
        writes_limit, scope=WRITES_SCOPE, key_func=user_key, exempt_when=limits_off
    )
    return documented(blp, shared)


def documented(blp: Blueprint, limit: Callable[[Any], Any]) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        return cast(View, limit(blp.alt_response(429, response="TOO_MANY_REQUESTS")(view)))

    return decorate
