"""Rate limits, declared in one place: per client IP on sign-in operations, per user on
authenticated writes and on the operations that start jobs, and the per-address mail cap.

Counters live in RATELIMIT_STORAGE_URI (Redis: shared by every worker and replica). Limits are
looked up per request, so apps with different settings coexist in one process, and every
limited operation declares its 429 in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_smorest import Blueprint
from limits import RateLimitItem, RateLimitItemPerHour
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.core.caller import caller_id
from app.core.extensions import limiter
from app.core.settings import Settings, current_settings

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

# MethodView dispatches on the method's name: these are the views that change something.
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
WRITES_SCOPE = "writes"  # one budget per user across every authenticated write
MAIL_CAP_KEY_PREFIX = "MAILCAP"


def limits_off() -> bool:
    return not current_settings().ratelimit_enabled


def user_key() -> str:
    """The signed-in user: only for limits checked after the token is verified."""
    return f"user:{caller_id()}"


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


def check_limits_in_views_only(app: Flask, rate_limiter: Limiter) -> None:
    """Leave out Flask-Limiter's pass before every request while it has nothing to check.

    That pass applies app-wide, default, meta, blueprint and in-memory fallback limits; each
    limited view checks its own limits when it is called, without it. This service declares
    only the latter (``per_client``, ``per_user``, ``per_user_writes``), so the pass found
    nothing, at about 80 µs a request. It stays when a limit of any other kind is declared.
    Call once every blueprint is registered.
    """
    # Flask-Limiter has no public way to ask this: its lists of declared limits (read, not
    # evaluated: a limit may be a function of the request) and its hook are private.
    # tests/test_rate_limits.py fails loudly if a release renames any of them.
    manager = rate_limiter.limit_manager
    declared_elsewhere = (
        manager._application_limits,
        manager._default_limits,
        manager._blueprint_limits,
        rate_limiter._meta_limits,
        rate_limiter._in_memory_fallback,
    )
    hooks = app.before_request_funcs.get(None, [])
    pass_before_views = rate_limiter._check_request_limit
    if not any(declared_elsewhere) and pass_before_views in hooks:
        hooks.remove(pass_before_views)


class MailCap:
    """At most MAIL_PER_ADDRESS_PER_HOUR mails to one address per hour, whoever asks for them.

    Counted where the rate limits are (RATELIMIT_STORAGE_URI), so the cap holds across client
    IPs, workers and replicas. While that store is unreachable each process counts in its own
    memory, as the rate limits do; the switch and the way back are logged once each.
    """

    def __init__(self, settings: Settings, storage_options: dict[str, Any]) -> None:
        self.enabled = settings.ratelimit_enabled
        self.per_hour = RateLimitItemPerHour(settings.mail_per_address_per_hour)
        self.once_per_hour = RateLimitItemPerHour(1)
        # A prefix of its own: clearing the rate limits (flask limiter reset) keeps the cap.
        options = {**storage_options, "key_prefix": settings.redis_key_prefix + MAIL_CAP_KEY_PREFIX}
        store = storage_from_string(settings.ratelimit_storage_uri, wrap_exceptions=True, **options)
        self.shared = FixedWindowRateLimiter(store)
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.store_down = False

    def allows(self, address: str, recipient: str) -> bool:
        """Count one mail to ``address``; False when its hour's cap is reached already.

        The first refusal of each address and hour is logged, naming ``recipient`` (such as
        "user 42") rather than the address.
        """
        if not self.enabled:
            return True
        # Keys name a digest, not the address: the store holds no one's email.
        key = hashlib.sha256(address.strip().lower().encode()).hexdigest()
        if self.hit(self.per_hour, "mail", key):
            return True
        if self.hit(self.once_per_hour, "mail-cap-logged", key):
            log.warning(
                "mail cap reached for %s: no more mail to its address this hour "
                "(MAIL_PER_ADDRESS_PER_HOUR=%s)",
                recipient,
                self.per_hour.amount,
            )
        return False

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        try:
            allowed = self.shared.hit(item, *identifiers)
        except StorageError:
            if not self.store_down:
                log.warning("mail cap store unreachable: counting in this process until it is back")
                self.store_down = True
            return self.local.hit(item, *identifiers)
        if self.store_down:
            log.info("mail cap store recovered")
            self.store_down = False
        return allowed


def mail_cap_allows(address: str, recipient: str) -> bool:
    """Whether one more mail may go to ``address`` this hour (see MailCap)."""
    cap: MailCap = current_app.extensions["mail_cap"]
    return cap.allows(address, recipient)
