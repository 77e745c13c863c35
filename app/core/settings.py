"""Every environment variable the service reads, typed, validated and documented.

Settings are built explicitly (``Settings()`` or ``load_settings()``), never at import, so
tests can run apps with different settings side by side.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import os
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, NoReturn, TypeVar
from urllib.parse import urlsplit

from flask import current_app
from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.core import project

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIN_SECRET_LENGTH = 32

# Signs sessions and tokens when no secret is configured outside production. Being a
# constant, every process of a development stack (gunicorn workers, Celery) agrees on it;
# production refuses it like any other placeholder.
DEVELOPMENT_SECRET = "insecure-development-secret-do-not-use-in-production"  # noqa: S105

# Values that appear in documentation and examples; a production secret must be none of them.
PLACEHOLDER_SECRETS = frozenset(
    {
        DEVELOPMENT_SECRET,
        "changeme",
        "change-me",
        "secret",
        "dev",
        "development",
        "development-secret-key-change-me-please",
        "development-jwt-secret-key-change-me-please",
    }
)

# Platforms hand out URLs like postgres://...; map each scheme to the driver we ship.
DRIVER_FOR_SCHEME = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "sqlite": "sqlite",
}


def normalize_database_url(raw: str) -> str:
    """Return ``raw`` with its scheme mapped to a shipped driver; raise ValueError if unusable."""
    try:
        url = make_url(raw)
    except ArgumentError as error:
        raise ValueError(f"cannot parse {raw!r} as a database URL") from error
    backend = url.get_backend_name()
    if backend not in DRIVER_FOR_SCHEME:
        supported = ", ".join(sorted(DRIVER_FOR_SCHEME))
        raise ValueError(
            f"unsupported database scheme {url.drivername!r} (use one of: {supported})"
        )
    if url.drivername == backend:
        url = url.set(drivername=DRIVER_FOR_SCHEME[backend])
    if backend != "sqlite" and not url.host:
        raise ValueError("a server database URL needs a host")
    return url.render_as_string(hide_password=False)


def split_list(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


@cache
def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """The checked-out commit, read from .git without running git (absent in images)."""
    git_dir = root / ".git"
    try:
        head = (git_dir / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        ref_file = git_dir / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        for line in (git_dir / "packed-refs").read_text().splitlines():
            if line.endswith(f" {ref}"):
                return line.split(" ", 1)[0]
    except OSError:
        return None
    return None


def default_sqlite_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'instance' / f'{project.SLUG}.db'}"


# What each optional feature imports; all come with the `observability` extra.
OBSERVABILITY_MODULES = {
    "otel_exporter_otlp_endpoint": (
        "opentelemetry.sdk",
        "opentelemetry.exporter.otlp.proto.http",
        "opentelemetry.instrumentation.flask",
        "opentelemetry.instrumentation.sqlalchemy",
        "opentelemetry.instrumentation.celery",
    ),
    "sentry_dsn": ("sentry_sdk",),
}
OBSERVABILITY_MISSING = (
    "is set, but this install leaves out the optional 'observability' extra (OpenTelemetry and "
    "Sentry): install it with `uv sync --extra observability`, or build the image with "
    "`--build-arg EXTRAS=observability`; or unset the variable"
)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported; its parent packages are imported to find it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class Settings(BaseSettings):
    """The service's configuration, read from the environment (and ``.env`` when present)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # app_env comes first: the validators below read it to apply production rules.
    app_env: Literal["development", "test", "production"] = Field(
        default="development",
        description="development (SQLite, console logs) | test | production (strict).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description="Flask's secret key; required in production (32+ chars). The API keeps "
        "no cookie session, so nothing signs with it today; an extension that would is "
        "never left with a default.",
    )
    jwt_secret_key: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description="Key that signs JWTs; required in production (32+ chars).",
    )
    database_url: str = Field(
        default="",
        validate_default=True,
        description="SQLAlchemy URL; postgres://, postgresql://, mysql://, mariadb://, "
        "sqlite:/// accepted. Default: SQLite file in instance/.",
    )
    database_pool_recycle: int = Field(
        default=1800, ge=1, description="Seconds before a pooled connection is replaced."
    )
    database_connect_timeout: int = Field(
        default=5, ge=1, description="Seconds to wait when opening a database connection."
    )
    database_pool_size: int = Field(
        default=5, ge=1, description="Connections each process keeps open to the database."
    )
    database_max_overflow: int = Field(
        default=10,
        ge=0,
        description="Connections a process may open beyond the pool under load, closed after.",
    )
    database_prepared_statements: bool = Field(
        default=True,
        description="false: never prepare statements on the server (PostgreSQL), as PgBouncer "
        "in transaction mode requires.",
    )
    database_retry_after: int = Field(
        default=5,
        ge=1,
        description="Seconds a client is told to wait (Retry-After) when the database is "
        "unavailable.",
    )
    celery_broker_url: str | None = Field(
        default=None,
        validate_default=True,
        description="Celery broker (redis:// or amqp://). Unset: tasks run in-process.",
    )
    celery_result_backend: str | None = Field(
        default=None, description="Celery result backend. Unset: results are not stored."
    )
    celery_task_time_limit: int = Field(
        default=300,
        ge=10,
        description="Seconds before a task is killed; it is asked to stop 10 seconds earlier.",
    )
    celery_worker_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Tasks a worker runs at once (child processes). Unset: one per CPU.",
    )
    job_retention_days: int = Field(
        default=7,
        ge=1,
        description="Days finished jobs (with their results) and sent outbox messages are kept.",
    )
    job_reaper_interval: int = Field(
        default=60,
        ge=1,
        description="Seconds between looks for jobs stuck in STARTED past the task time limit.",
    )
    idempotency_key_required: bool = Field(
        default=False,
        description="true: creating requests (POST) without an Idempotency-Key header get 400.",
    )
    idempotency_key_expires: int = Field(
        default=86400,
        ge=60,
        description="Seconds an Idempotency-Key and its stored answer are kept (beat purges "
        "them after).",
    )
    if_match_required: bool = Field(
        default=False,
        description="true: changes (PATCH, DELETE) of a single resource without an If-Match "
        "header get 428.",
    )
    token_purge_interval: int = Field(
        default=3600, ge=60, description="Seconds between purges of expired token records (beat)."
    )
    ratelimit_enabled: bool = Field(default=True, description="false disables rate limits.")
    ratelimit_storage_uri: str = Field(
        default="memory://",
        description="Rate-limit counters: memory:// (one process only) or redis://.",
    )
    redis_key_prefix: str = Field(
        default="",
        max_length=100,
        description="Put before every Redis key of the broker, the result backend and the "
        "rate limits, so several services or deployments can share one Redis database.",
    )
    ratelimit_auth: str = Field(
        default="10 per minute",
        description="Limit per client IP on login, token, signup, refresh, password reset "
        "and email verification (per user on its resend), such as '10 per minute' or "
        "'5/minute;100/day'.",
    )
    ratelimit_writes: str = Field(
        default="60 per minute",
        description="Limit per user on all of their authenticated writes together (POST, "
        "PUT, PATCH, DELETE).",
    )
    ratelimit_jobs: str = Field(
        default="5 per minute;50 per day",
        description="Limit per user on each operation that starts a background job (such as "
        "POST /api/v1/books/exports), on top of RATELIMIT_WRITES.",
    )
    mail_per_address_per_hour: int = Field(
        default=5,
        ge=1,
        description="Mails to any one address per hour (sign-up notices, password resets, "
        "verification links), whoever asks; further requests are answered alike and send "
        "nothing. Counted in RATELIMIT_STORAGE_URI.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Minimum level of log events."
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        description="json (ECS) or console. Default: json in production, console otherwise.",
    )
    app_release: str | None = Field(
        default=None,
        max_length=200,
        description="Release id reported by /version and in logs. Default: the git commit.",
    )
    release_actor: str | None = Field(
        default=None,
        description="Who runs the release step, as the release ledger records it. "
        "Default: the user and host name of the process.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins allowed to call the API from a browser.",
    )
    trusted_proxies: int = Field(
        default=0,
        ge=0,
        description="Number of proxies in front whose X-Forwarded-* headers are believed "
        "(client address, scheme, host, port, path prefix). 0: the headers are ignored.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        description="Comma-separated addresses or networks of the nearest proxy, or *; "
        "only their X-Forwarded-* headers count (with TRUSTED_PROXIES > 0).",
    )
    docs_enabled: bool = Field(
        default=True, description="false hides /docs and /openapi.json (404)."
    )
    max_content_length: int = Field(
        default=1024 * 1024, ge=1, description="Largest accepted request body, in bytes."
    )
    jwt_access_token_expires: int = Field(
        default=15 * 60, ge=1, description="Access-token lifetime in seconds."
    )
    jwt_refresh_token_expires: int = Field(
        default=14 * 24 * 3600,
        ge=1,
        description="Refresh-token lifetime in seconds; longer than the access token's.",
    )
    session_max_age: int = Field(
        default=30 * 24 * 3600,
        ge=60,
        description="Seconds a sign-in lasts at most, however often it is refreshed.",
    )
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        default="HS256", description="The only algorithm tokens are signed and accepted with."
    )
    smtp_url: str | None = Field(
        default=None,
        validate_default=True,
        description="smtp://user:pass@host:587 (smtps:// for TLS); required in production. "
        "Unset elsewhere: mail is written to the log.",
    )
    smtp_starttls: bool = Field(
        default=True,
        description="Upgrade smtp:// with STARTTLS; required when SMTP_URL has a password.",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CAs that may sign the SMTP server's certificate. "
        "Default: the system's CAs.",
    )
    smtp_timeout: int = Field(default=10, ge=1, description="Seconds per SMTP operation.")
    mail_from: str = Field(default=project.MAIL_FROM, description="Sender of outgoing mail.")
    frontend_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where the links in mails point: {FRONTEND_URL}/reset-password?token=...",
    )
    password_reset_token_expires: int = Field(
        default=1800,
        ge=60,
        description="Seconds a password-reset or email-verification link stays valid.",
    )
    require_verified_email: bool = Field(
        default=False,
        description="true: login and the token endpoint refuse accounts with an unverified email.",
    )

    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the Prometheus /metrics endpoint (web: every gunicorn worker "
        "aggregated; worker: its tasks). Never the public PORT. Unset: no metrics.",
    )

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318; traces go to "
        "its /v1/traces. Unset: no tracing (the SDK is not even imported).",
    )
    otel_exporter_otlp_protocol: Literal["http/protobuf"] = Field(
        default="http/protobuf", description="OTLP transport; http/protobuf is the one shipped."
    )
    otel_service_name: str = Field(
        default=project.SLUG, description="service.name of the exported spans."
    )
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(
        default="parentbased_always_on",
        description="Which traces to record; parentbased_* follow the caller's decision.",
    )
    otel_traces_sampler_arg: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Ratio kept by the *traceidratio samplers."
    )
    sentry_dsn: SecretStr | None = Field(
        default=None,
        description="Sentry (or compatible) DSN that receives unhandled errors of requests "
        "and tasks, scrubbed of credentials. Unset: no error reporting.",
    )

    @field_validator("otel_exporter_otlp_endpoint", "sentry_dsn")
    @classmethod
    def _observability_installed(cls, value: object, info: ValidationInfo) -> object:
        """Traces and error reports need the optional ``observability`` extra; say so at start
        rather than fail on the first import, or run without what was asked for."""
        if value and not all(map(installed, OBSERVABILITY_MODULES[str(info.field_name)])):
            raise ValueError(OBSERVABILITY_MISSING)
        return value

    @field_validator("secret_key", "jwt_secret_key")
    @classmethod
    def _strong_secret_in_production(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if info.data.get("app_env") != "production":
            return value
        if value is None or not value.get_secret_value():
            raise ValueError("is required in production")
        secret = value.get_secret_value()
        if secret.lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder value; generate a random one")
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("celery_broker_url")
    @classmethod
    def _broker_in_production(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("app_env") == "production" and not value:
            raise ValueError("is required in production (redis:// or amqp://)")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("must start with smtp:// or smtps://")
        if info.data.get("app_env") == "production" and not value:
            raise ValueError("is required in production (mail must have somewhere to go)")
        return value

    @field_validator("smtp_starttls")
    @classmethod
    def _credentials_over_tls(cls, value: bool, info: ValidationInfo) -> bool:
        url = urlsplit(info.data.get("smtp_url") or "")
        if url.scheme == "smtp" and url.username and not value:
            raise ValueError(
                "false would send SMTP_URL's password unencrypted; use STARTTLS or smtps://"
            )
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _readable_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @field_validator("ratelimit_auth", "ratelimit_writes", "ratelimit_jobs")
    @classmethod
    def _parsable_limit(cls, value: str) -> str:
        # Flask-Limiter would log a bad limit per request and apply none: refuse it here.
        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(
                f"{value!r} is not a rate limit ({error}); write e.g. '10 per minute'"
            ) from None
        return value

    @field_validator("jwt_refresh_token_expires")
    @classmethod
    def _refresh_outlives_access(cls, value: int, info: ValidationInfo) -> int:
        access = info.data.get("jwt_access_token_expires")
        if access is not None and value <= access:
            raise ValueError(f"must be longer than JWT_ACCESS_TOKEN_EXPIRES ({access})")
        return value

    @field_validator("frontend_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        return normalize_database_url(value or default_sqlite_url())

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for entry in split_list(value):
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return split_list(value) if isinstance(value, str) else value

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.app_env == "production" else "console"

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint)

    @property
    def release(self) -> str:
        return self.app_release or git_commit() or "unknown"

    @property
    def access_token_lifetime(self) -> timedelta:
        return timedelta(seconds=self.jwt_access_token_expires)

    @property
    def refresh_token_lifetime(self) -> timedelta:
        return timedelta(seconds=self.jwt_refresh_token_expires)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(seconds=self.session_max_age)

    @property
    def email_token_lifetime(self) -> timedelta:
        return timedelta(seconds=self.password_reset_token_expires)

    @property
    def database(self) -> URL:
        return make_url(self.database_url)

    @property
    def proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
        """The networks proxies may connect from; None means any (``*``)."""
        entries = split_list(self.forwarded_allow_ips)
        if "*" in entries:
            return None
        return [ipaddress.ip_network(entry, strict=False) for entry in entries]


CGROUP_CPU_LIMIT = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cgroup_cpu_limit: Path = CGROUP_CPU_LIMIT) -> int:
    """The CPUs this process can use: a container's CPU limit (cgroup v2 quota, as Kubernetes
    and ``docker --cpus`` set it), else the CPUs it may run on. os.cpu_count() counts the
    host's, so a 1-CPU pod on a 64-core node would otherwise start 8 workers."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = cgroup_cpu_limit.read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU controller here: no limit
    return cpus


class ServerSettings(BaseSettings):
    """What gunicorn.conf.py reads: where to listen and how many processes to run."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    host: str = Field(default="127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port to bind.")
    web_concurrency: int = Field(
        default_factory=lambda: min(2 * available_cpus() + 1, 8),
        ge=1,
        description="Number of gunicorn worker processes. Default: 2 x CPUs + 1, at most 8; "
        "in a container with a CPU limit, CPUs means that limit, rounded up.",
    )
    gunicorn_threads: int = Field(default=1, ge=1, description="Threads per worker.")
    gunicorn_timeout: int = Field(
        default=30, ge=1, description="Seconds before a hung worker is killed."
    )
    gunicorn_graceful_timeout: int = Field(
        default=30, ge=1, description="Seconds in-flight requests get to finish after SIGTERM."
    )
    gunicorn_keepalive: int = Field(default=5, ge=0, description="Keep-alive seconds.")


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def describe_errors(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        variable = "_".join(str(part) for part in problem["loc"]).upper() or "settings"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {variable}: {message}")
    return "\n".join(lines)


def refuse_to_start(problems: str) -> NoReturn:
    raise SystemExit(
        f"{project.NAME} cannot start: the configuration is invalid.\n"
        f"{problems}\n"
        "Set these environment variables (see .env.example) and start again."
    )


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read settings from the environment, or exit with one message naming every bad variable."""
    try:
        return settings_class()
    except ValidationError as error:
        refuse_to_start(describe_errors(error))


def counts_per_process(settings: Settings) -> bool:
    """Whether production counts rate limits and the mail cap in each process's own memory."""
    return (
        settings.app_env == "production"
        and settings.ratelimit_enabled
        and settings.ratelimit_storage_uri.startswith("memory://")
    )


def check_web_server(settings: Settings, server: ServerSettings) -> None:
    """Rules that need both: the web server's processes must share what they must agree on."""
    if counts_per_process(settings) and server.web_concurrency > 1:
        refuse_to_start(
            "  RATELIMIT_STORAGE_URI: memory:// counts per process, so "
            f"WEB_CONCURRENCY={server.web_concurrency} workers would each allow the full "
            "limit; use redis://, or RATELIMIT_ENABLED=false"
        )


def check_worker(settings: Settings, child_processes: int) -> None:
    """The Celery worker's rule: the children that send mail must share the mail cap."""
    if counts_per_process(settings) and child_processes > 1:
        refuse_to_start(
            "  RATELIMIT_STORAGE_URI: memory:// counts per process, so the worker's "
            f"{child_processes} child processes would each send MAIL_PER_ADDRESS_PER_HOUR mails "
            "to one address; use redis://, CELERY_WORKER_CONCURRENCY=1, or "
            "RATELIMIT_ENABLED=false"
        )


def current_settings() -> Settings:
    """The Settings of the app handling the current request, task or command."""
    return current_app.extensions["settings"]  # type: ignore[no-any-return]
