"""Extension objects, created unbound here and bound to an app in ``create_app()``."""

from datetime import UTC, datetime
from typing import Any

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from app.core.errors import ProblemApi

# Named constraints make migrations portable and reversible on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


# MySQL and MariaDB keep whole seconds unless a column asks for fractions; PostgreSQL and SQLite
# keep microseconds. Timestamps keep them everywhere, so a row reads back as it was written.
MYSQL_DATETIME = mysql.DATETIME(fsp=6)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and returns aware UTC, identically on SQLite, PostgreSQL and MariaDB."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(MYSQL_DATETIME)
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Base of every model: typed ``Mapped[...]`` columns on one shared metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    """created_at and updated_at, kept by the ORM in UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# The session ends with the request (or task) that committed it, so objects need not be
# expired and read again after a commit: a created or updated row is returned as written, which
# saves a create about a fifth of its CPU. It relies on every column reading back as written
# (see MYSQL_DATETIME).
SESSION_OPTIONS: dict[str, Any] = {"expire_on_commit": False}
# (A copy: Flask-SQLAlchemy adds its own options to the dict it is given.)
db = SQLAlchemy(model_class=Base, session_options=dict(SESSION_OPTIONS))

# An execution option read by the SQLite engine's BEGIN (see app.prepare_engine). Every
# transaction begins IMMEDIATE, taking SQLite's one write lock before its first read, unless
# its connection asks for READ_ONLY_ON_SQLITE: a check that only reads must not queue.
SQLITE_BEGIN = "sqlite_begin"
READ_ONLY_ON_SQLITE = {SQLITE_BEGIN: "DEFERRED"}


api = ProblemApi()
limiter = Limiter(key_func=get_remote_address)
