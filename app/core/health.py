"""Liveness, readiness and version: what an orchestrator and an operator ask a process."""

from __future__ import annotations

import logging
import platform
import tomllib
from collections.abc import Callable
from functools import cache

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from kombu.exceptions import KombuError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.core.background import check_broker
from app.core.errors import problem
from app.core.extensions import db
from app.core.settings import PROJECT_ROOT, current_settings

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Process health and identity")


class StatusSchema(ma.Schema):
    status = ma.fields.String(required=True)


class VersionSchema(ma.Schema):
    release = ma.fields.String(required=True, metadata={"description": "Release id"})
    version = ma.fields.String(required=True, metadata={"description": "Application version"})
    python = ma.fields.String(required=True)


@cache
def app_version() -> str:
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as pyproject:
        return str(tomllib.load(pyproject)["project"]["version"])


def check_database() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def readiness_checks() -> dict[str, Callable[[], None]]:
    """Name -> check; each check raises when its dependency cannot be used."""
    checks = {"database": check_database}
    settings = current_settings()
    if settings.celery_broker_url:
        checks["broker"] = lambda: check_broker(settings)
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
    def get(self) -> dict[str, str] | Response:
        """The process can do useful work: its database (and broker) answer."""
        failed = {}
        for name, check in readiness_checks().items():
            try:
                check()
            except (SQLAlchemyError, OSError, TimeoutError, KombuError) as error:
                log.warning("readiness check %s failed: %s", name, error)
                failed[name] = "unavailable"
        if failed:
            return problem(503, f"Not ready: {', '.join(failed)} unavailable", checks=failed)
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
