"""Which database errors mean "the database cannot serve now", as opposed to "this is a bug".

A refused or timed-out connection, a server that shut down or restarted under us, too many
connections, or a write sent to a server that a failover made read-only: each is temporary
and the same request will work later, so the API answers 503 with Retry-After
(``app/core/errors.py``) instead of a 500. A statement the database refuses (a missing table,
a constraint, a bad value) is none of these and keeps its own answer.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html).
POSTGRESQL_OUTAGE_CLASSES = ("08",)  # connection exception
POSTGRESQL_OUTAGES = frozenset(
    {
        "57P01",  # admin_shutdown: the server is stopping or restarting
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now: starting up, shutting down, in recovery
        "57P05",  # idle_session_timeout
        "53300",  # too_many_connections
        "25006",  # read_only_sql_transaction: a standby, e.g. the old primary after a failover
    }
)
# MySQL and MariaDB error numbers.
MYSQL_OUTAGES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1290,  # running with --read-only
        1836,  # read-only mode
        1927,  # connection was killed
        2002,  # cannot connect through the socket
        2003,  # cannot connect (refused or timed out)
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection
        4031,  # disconnected by the server (idle timeout)
    }
)


def is_outage(dialect: Dialect, error: BaseException) -> bool:
    """Whether ``error``, raised by ``dialect``'s driver, means the database is unavailable."""
    if not isinstance(error, dialect.loaded_dbapi.Error):
        return False  # raised by Python code, not the driver: never an outage
    if dialect.name == "postgresql":
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate is None:
            # psycopg raises these before the server says anything: the connection could not
            # be opened (refused, timed out) or was lost.
            return isinstance(error, dialect.loaded_dbapi.OperationalError)
        return sqlstate.startswith(POSTGRESQL_OUTAGE_CLASSES) or sqlstate in POSTGRESQL_OUTAGES
    if dialect.name in ("mysql", "mariadb"):
        code = error.args[0] if error.args else None
        return isinstance(code, int) and code in MYSQL_OUTAGES
    return False


def watch_for_outages(engine: Engine) -> None:
    """Treat outages as lost connections: SQLAlchemy then drops this connection and the pool's
    others (after a restart or a failover they all lead to a server that is gone or read-only),
    and the exception it raises says ``connection_invalidated``, which the 503 answer keys on."""

    @event.listens_for(engine, "handle_error")
    def _mark_outage_as_disconnect(context: ExceptionContext) -> None:
        if is_outage(context.dialect, context.original_exception):
            context.is_disconnect = True


# Lock conflicts between transactions: the database chose this one to give way. Retrying the
# request works; they are neither an outage nor a bug.
POSTGRESQL_LOCK_CONFLICTS = frozenset({"40P01", "40001"})  # deadlock, serialization failure
MYSQL_LOCK_CONFLICTS = frozenset({1205, 1213})  # lock wait timeout, deadlock


def is_lock_conflict(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's wrapper) means a deadlock or a lock wait that gave up."""
    cause = getattr(error, "orig", None)
    if cause is None:
        return False
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in POSTGRESQL_LOCK_CONFLICTS
    code = cause.args[0] if cause.args else None
    return isinstance(code, int) and code in MYSQL_LOCK_CONFLICTS
