"""Unhandled errors of requests and tasks, reported to Sentry (SENTRY_DSN) and scrubbed first.

Imported only when SENTRY_DSN is set. Events carry the release, the environment and the
request id; ``scrub`` removes credentials (the Authorization header, cookies, passwords,
tokens, secrets) wherever they appear in an event before it leaves the process.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from celery import current_task
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from app.core.background import task_request_id
from app.core.logging import request_id_var
from app.core.settings import Settings

FILTERED = "[Filtered]"
# A key naming any of these has its whole value replaced, whatever its shape.
SENSITIVE_KEY = re.compile(
    r"authorization|cookie|passw|secret|token|api[-_]?key|credential|session|csrf|dsn", re.I
)
# Credentials inside text: bearer tokens, JWTs, and name=value pairs of a URL or form.
SENSITIVE_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+"), r"\1 " + FILTERED),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), FILTERED),
    (
        re.compile(r"(?i)\b([\w-]*(?:passw|secret|token|api[-_]?key)[\w-]*)=[^&\s]*"),
        r"\1=" + FILTERED,
    ),
)
# Mail is logged in full when SMTP is off; its one-time links must not become breadcrumbs.
UNREPORTED_LOGGERS = frozenset({"app.core.mail"})


def init(settings: Settings) -> None:
    assert settings.sentry_dsn is not None  # noqa: S101 - telemetry calls this only when set
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        release=settings.release,
        environment=settings.app_env,
        integrations=[FlaskIntegration(), CeleryIntegration(), SqlalchemyIntegration()],
        send_default_pii=False,
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
    )


def before_send(event: Event, _hint: Hint) -> Event:
    request_id = request_id_var.get() or (task_request_id(current_task) if current_task else None)
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return scrub(event)  # type: ignore[no-any-return]


def before_breadcrumb(crumb: Breadcrumb, _hint: BreadcrumbHint) -> Breadcrumb | None:
    if crumb.get("category") in UNREPORTED_LOGGERS:
        return None
    return scrub(crumb)  # type: ignore[no-any-return]


def scrub(value: Any) -> Any:
    """``value`` with every credential replaced by [Filtered]."""
    if isinstance(value, dict):
        return {
            key: FILTERED if isinstance(key, str) and SENSITIVE_KEY.search(key) else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Sentry writes headers and form fields as [name, value] pairs too.
        if len(value) == 2 and isinstance(value[0], str) and SENSITIVE_KEY.search(value[0]):
            return [value[0], FILTERED]
        return [scrub(item) for item in value]
    if isinstance(value, str):
        for pattern, replacement in SENSITIVE_TEXT:
            value = pattern.sub(replacement, value)
    return value
