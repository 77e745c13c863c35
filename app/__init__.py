"""A twelve-factor Flask API. ``create_app()`` builds the service from its Settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask
from flask_cors import CORS
from flask_swagger_ui import __file__ as swagger_ui_package
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app import cli
from app.auth.access import SECURITY_SCHEMES, init_token_checks
from app.auth.views import auth_blp, users_blp
from app.books.views import blp as books_blp
from app.core import health, project, telemetry
from app.core.background import celery_init_app
from app.core.database import watch_for_outages
from app.core.edge import init_edge
from app.core.errors import init_request_checks
from app.core.extensions import SQLITE_BEGIN, api, db, limiter
from app.core.json_provider import OrjsonProvider
from app.core.logging import configure_logging, init_request_logging
from app.core.openapi import RATE_LIMIT_HEADERS, REQUEST_ID
from app.core.rate_limits import MailCap, check_limits_in_views_only
from app.core.settings import DEVELOPMENT_SECRET, PROJECT_ROOT, Settings, load_settings
from app.jobs import views as jobs

# Every blueprint of the API, in the order of the OpenAPI document; `flask scaffold resource`
# adds a resource's import above and its line here.
BLUEPRINTS = (
    health.blp,
    auth_blp,
    users_blp,
    books_blp,
    jobs.blp,
)
SWAGGER_UI_ASSETS = "/docs/assets/"
RATE_LIMIT_STORE_TIMEOUT = 1.0  # seconds per connect and per command
# Response headers a browser client may read (CORS): those the document declares; ETag and
# Idempotent-Replayed serve conditional edits and retried creates.
EXPOSED_HEADERS = [
    REQUEST_ID,
    "Location",
    "Link",
    "Retry-After",
    *RATE_LIMIT_HEADERS,
    "ETag",
    "Idempotent-Replayed",
]


def create_app(settings: Settings | None = None, *, migrations: bool = True) -> Flask:
    """Build the application; with no ``settings``, read them from the environment.

    ``migrations=False`` leaves out ``flask db`` and with it Alembic: the web and worker
    processes never migrate, and importing Alembic costs each of them time and memory.
    """
    settings = settings or load_settings(Settings)
    configure_logging(settings)

    app = Flask(__name__, instance_path=str(PROJECT_ROOT / "instance"))
    app.json = OrjsonProvider(app)
    app.config.from_mapping(flask_config(settings))
    app.extensions["settings"] = settings

    ensure_sqlite_folder(settings)
    db.init_app(app)
    if migrations:
        init_migrations(app)
    with app.app_context():
        prepare_engine(db.engine)
        watch_for_outages(db.engine)
    api.init_app(app)
    init_token_checks(app)
    limiter.init_app(app)
    app.extensions["mail_cap"] = MailCap(settings, rate_limit_storage_options(settings))
    celery_init_app(app, settings)
    telemetry.init_app(app, settings)
    init_request_logging(app)
    init_request_checks(app)
    init_edge(app, settings)
    if settings.cors_origins:
        CORS(app, origins=settings.cors_origins, expose_headers=EXPOSED_HEADERS)

    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    if settings.docs_enabled:
        app.register_blueprint(swagger_ui_assets())
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    check_limits_in_views_only(app, limiter)
    cli.register(app)
    return app


def init_migrations(app: Flask) -> None:
    from flask_migrate import Migrate  # only admin processes pay for importing Alembic

    Migrate(app, db, directory=str(PROJECT_ROOT / "migrations"))


def flask_config(settings: Settings) -> dict[str, Any]:
    return {
        "SECRET_KEY": secret(settings.secret_key),
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings),
        "MAX_CONTENT_LENGTH": settings.max_content_length,
        "JWT_SECRET_KEY": secret(settings.jwt_secret_key),
        "RATELIMIT_STORAGE_URI": settings.ratelimit_storage_uri,
        "RATELIMIT_STORAGE_OPTIONS": rate_limit_storage_options(settings),
        "RATELIMIT_HEADERS_ENABLED": True,
        # While the store is unreachable, each process counts in its own memory, so limits
        # still hold (per process) instead of vanishing; Flask-Limiter logs the switch and
        # the way back once each, and /readyz shows the store as degraded.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # A rate-limit store outage must not take the API down with it.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RELEASE": settings.release,
        "API_TITLE": project.NAME,
        # The release's version (pyproject.toml): a break in the document needs a new one.
        "API_VERSION": health.app_version(),
        "OPENAPI_VERSION": "3.1.0",
        # None: no /openapi.json and no /docs (`flask openapi write` still works).
        "OPENAPI_URL_PREFIX": "/" if settings.docs_enabled else None,
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS,
        "OPENAPI_SWAGGER_UI_CONFIG": {"persistAuthorization": True},
    }


def engine_options(settings: Settings) -> dict[str, Any]:
    backend = settings.database.get_backend_name()
    if backend == "sqlite":
        return {}
    connect_args: dict[str, Any] = {"connect_timeout": settings.database_connect_timeout}
    if backend == "postgresql" and not settings.database_prepared_statements:
        # PgBouncer in transaction mode hands each transaction to any server connection, where
        # a statement psycopg prepared on another one does not exist.
        connect_args["prepare_threshold"] = None
    return {
        "pool_pre_ping": True,
        "pool_recycle": settings.database_pool_recycle,
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "connect_args": connect_args,
    }


def rate_limit_storage_options(settings: Settings) -> dict[str, Any]:
    """A Redis store that does not answer within a second counts as down: the request goes on
    with the in-memory fallback instead of waiting, and Redis's own retries (seconds of
    backoff per command) are left to that fallback."""
    if urlsplit(settings.ratelimit_storage_uri).scheme not in ("redis", "rediss", "redis+unix"):
        return {}
    from limits.storage import RedisStorage  # the redis client, needed only with a Redis store
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": RATE_LIMIT_STORE_TIMEOUT,
        "socket_timeout": RATE_LIMIT_STORE_TIMEOUT,
        "retry": Retry(NoBackoff(), retries=0),
        # Resetting the limits deletes only keys under this prefix.
        "key_prefix": settings.redis_key_prefix + RedisStorage.PREFIX,
    }


def ensure_sqlite_folder(settings: Settings) -> None:
    """A fresh checkout has no instance/ folder; SQLite will not create it."""
    database = settings.database
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        Path(database.database).parent.mkdir(parents=True, exist_ok=True)


def secret(value: SecretStr | None) -> str:
    # Production refuses to start without secrets, so the fallback only serves development.
    return value.get_secret_value() if value else DEVELOPMENT_SECRET


def swagger_ui_assets() -> Blueprint:
    """Serve Swagger UI's files from the installed package, so /docs needs no CDN."""
    dist = Path(swagger_ui_package).parent / "dist"
    return Blueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=str(dist),
        static_url_path=SWAGGER_UI_ASSETS.rstrip("/"),
    )


def prepare_engine(engine: Engine) -> None:
    """SQLite needs a few switches to behave like the server databases we test against."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so SAVEPOINTs and transactional DDL work,
        # enforce foreign keys (ON DELETE CASCADE) as PostgreSQL and MariaDB do, and use
        # write-ahead logging so gunicorn workers and Celery read while one of them writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
        # SQLite's own lower() folds only ASCII; PostgreSQL's and MariaDB's fold all of
        # Unicode, so case-insensitive search (lower(column) LIKE lower(?)) agrees on "É".
        dbapi_connection.create_function("lower", 1, sqlite_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLite has one writer at a time. A deferred transaction that reads, then writes after
        # another process committed, fails at once with "database is locked" (its snapshot is
        # stale), which busy_timeout cannot wait out: concurrent sign-ins on several gunicorn
        # workers answered 500. Beginning IMMEDIATE makes writers queue for the lock instead
        # (as Rails and Django do); checks that only read opt out with READ_ONLY_ON_SQLITE.
        deferred = connection.get_execution_options().get(SQLITE_BEGIN) == "DEFERRED"
        connection.exec_driver_sql("BEGIN DEFERRED" if deferred else "BEGIN IMMEDIATE")


def sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
