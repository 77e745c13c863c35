"""Liveness, readiness and version: what an orchestrator and an operator ask a process."""

from __future__ import annotations

import logging
import platform
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import KombuError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.core.background import check_broker
from app.core.errors import driver_error, first_line, problem, qualified_name, retry_after
from app.core.extensions import READ_ONLY_ON_SQLITE, db, limiter
from app.core.settings import PROJECT_ROOT, current_settings

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Process health and identity")


class StatusSchema(ma.Schema):
    status = ma.fields.String(
        required=True, metadata={"description": "ok, or degraded when an optional check fails"}
    )
    checks = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        metadata={"description": "The checks that failed, by name (only when degraded)"},
    )


class VersionSchema(ma.Schema):
    release = ma.fields.String(required=True, metadata={"description": "Release id"})
    version = ma.fields.String(required=True, metadata={"description": "Application version"})
    python = ma.fields.String(required=True)


@dataclass(frozen=True)
class Check:
    """A dependency /readyz asks about: ``probe`` raises when it cannot be used.

    A failing required check takes the process out of rotation (503); any other leaves it in
    and shows as ``degraded``, because the process has a fallback for it. The component that
    falls back logs the change itself, once, so /readyz does not log those on every probe.
    """

    probe: Callable[[], None]
    required: bool = True


@cache
def app_version() -> str:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])


def check_database() -> None:
    with db.engine.connect().execution_options(**READ_ONLY_ON_SQLITE) as connection:
        connection.execute(text("SELECT 1"))


def check_rate_limit_store() -> None:
    if not limiter.storage.check():
        raise ConnectionError("the rate-limit store does not answer")


def readiness_checks() -> dict[str, Check]:
    """Name -> check, for what this process's configuration uses."""
    settings = current_settings()
    checks = {"database": Check(check_database)}
    if settings.celery_broker_url:
        # Writes still commit their outbox rows while the broker is away, and the relay
        # publishes them once it is back; the worker's own health check covers the broker.
        checks["broker"] = Check(lambda: check_broker(settings), required=False)
    if settings.ratelimit_enabled and not settings.ratelimit_storage_uri.startswith("memory://"):
        # Limits fall back to per-process counters while the store is away.
        checks["rate_limit_store"] = Check(check_rate_limit_store, required=False)
    return checks


@blp.route("/livez")
class Liveness(MethodView):
    @blp.response(200, StatusSchema)
    @blp.doc(security=[])
    def get(self) -> dict[str, str]:
        """The process is up and can serve requests."""
        return {"status": "ok"}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, StatusSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    @blp.doc(security=[])
    def get(self) -> dict[str, Any] | Response:
        """The process can do useful work: what it needs answers (degraded: a fallback serves)."""
        failed: dict[str, str] = {}
        not_ready = []
        for name, check in readiness_checks().items():
            try:
                check.probe()
            except (SQLAlchemyError, OSError, TimeoutError, KombuError) as error:
                failed[name] = "unavailable"
                if check.required:
                    not_ready.append(name)
                    cause = driver_error(error)
                    log.error(
                        "readiness check %s failed: %s: %s",
                        name,
                        type(cause).__name__,
                        first_line(cause),
                        extra={"error.type": qualified_name(cause)},
                    )
        if not_ready:
            return problem(
                503,
                f"Not ready: {', '.join(not_ready)} unavailable",
                checks=failed,
                headers=retry_after(),
            )
        if failed:
            return {"status": "degraded", "checks": failed}
        return {"status": "ok"}


@blp.route("/version")
class Version(MethodView):
    @blp.response(200, VersionSchema)
    @blp.doc(security=[])
    def get(self) -> dict[str, str]:
        """The release this process runs."""
        return {
            "release": current_app.config["RELEASE"],
            "version": app_version(),
            "python": platform.python_version(),
        }
