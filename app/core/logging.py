"""One event stream on stdout: ECS JSON in production, readable lines in development.

Every event carries the id of the request (or task) it belongs to.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

import ecs_logging
from flask import Flask, Response, g, request

from app.core import project
from app.core.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_FIELD = "http.request.id"  # the ECS field name, also the LogRecord attribute
_ACCEPTABLE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
access_logger = logging.getLogger("app.access")


class RequestIdFilter(logging.Filter):
    """Attach the current request id to every record that reaches the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.setdefault(REQUEST_ID_FIELD, request_id_var.get())
        return True


class CeleryTaskFields(logging.Filter):
    """Celery attaches its task details to records as ``data``, which is no ECS field: keep the
    task's name, id and run time as ECS and ``labels.*`` fields, and drop the rest, which the
    message already says (arguments and return values would also copy user data to the log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        data = record.__dict__.pop("data", None)
        if isinstance(data, dict):
            if "name" in data:
                record.__dict__["labels.task_name"] = str(data["name"])
            if "id" in data:
                record.__dict__["labels.task_id"] = str(data["id"])
            if isinstance(data.get("runtime"), int | float):
                record.__dict__["event.duration"] = int(data["runtime"] * 1e9)
        return True


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler this service installs; its class marks it for replacement."""


def build_formatter(settings: Settings) -> logging.Formatter:
    if settings.effective_log_format == "json":
        return ecs_logging.StdlibFormatter(
            extra={
                "service.name": project.SLUG,
                "service.version": settings.release,
                "service.environment": settings.app_env,
            },
            exclude_fields=["log.original"],
        )
    return logging.Formatter(
        f"%(asctime)s %(levelname)-7s %(name)s [%({REQUEST_ID_FIELD})s] %(message)s"
    )


def configure_logging(settings: Settings) -> None:
    """Send every logger's events to stdout through one handler (replacing an earlier one)."""
    handler = StdoutHandler(sys.stdout)
    handler.setFormatter(build_formatter(settings))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(CeleryTaskFields())
    root = logging.getLogger()
    for existing in [h for h in root.handlers if isinstance(h, StdoutHandler)]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Python warnings, and records of libraries whose loggers have no handler (billiard's),
    # would otherwise reach stderr as plain text.
    logging.captureWarnings(True)
    logging.lastResort = handler
    # Alembic announces each of its built-in plugins at INFO whenever it loads: seven lines of
    # noise in every release step's log.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def accept_request_id(candidate: str | None) -> str:
    """Keep a caller's id when it is short and printable, so traces join up; else mint one."""
    if candidate and _ACCEPTABLE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        g.request_started = time.perf_counter()
        g.request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id_token = request_id_var.set(g.request_id)

    @app.after_request
    def log_access(response: Response) -> Response:
        request_id = g.get("request_id") or accept_request_id(None)
        response.headers[REQUEST_ID_HEADER] = request_id
        duration = time.perf_counter() - g.get("request_started", time.perf_counter())
        access_logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            duration * 1000,
            extra={
                "http.request.method": request.method,
                "url.path": request.path,
                "http.response.status_code": response.status_code,
                # The client's address, behind trusted proxies the one they forwarded.
                "client.ip": request.remote_addr,
                "event.duration": int(duration * 1e9),
                REQUEST_ID_FIELD: request_id,
            },
        )
        return response

    @app.teardown_request
    def forget_request_id(_error: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)
