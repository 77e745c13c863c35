"""gunicorn settings, all from the environment (see ServerSettings in app/core/settings.py).

Settings are validated here, in the master, so a bad configuration stops the server with
one message instead of a loop of failing workers.
"""

import ctypes
import gc
from typing import Any

from gunicorn.glogging import Logger

# The imports below build the app: hundreds of thousands of objects that live as long as the
# process, among a little garbage. Collecting meanwhile would walk them again and again; one
# collection once the app is built (on_starting) frees that garbage in the master, before
# workers are forked to share its pages.
gc.disable()

from app.core import project, telemetry  # noqa: E402
from app.core.edge import answer_server_refusals_as_problems  # noqa: E402
from app.core.logging import configure_logging  # noqa: E402
from app.core.settings import (  # noqa: E402
    ServerSettings,
    Settings,
    check_web_server,
    load_settings,
)

_server = load_settings(ServerSettings)
_app_settings = load_settings(Settings)
if _app_settings.metrics_port == _server.port:
    raise SystemExit(f"{project.NAME} cannot start: METRICS_PORT must differ from the public PORT.")
check_web_server(_app_settings, _server)
answer_server_refusals_as_problems()

# glibc serves a block over 128 KiB from a mapping of its own, returned to the system when
# freed, but raises that bound to the size of each such block freed: from its second password
# check on (argon2 works in 19 MiB), a worker kept those 19 MiB for good. A fixed bound keeps
# returning them. Where the C library has no mallopt (not glibc), nothing changes.
M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
_libc = ctypes.CDLL(None)
if hasattr(_libc, "mallopt"):
    _libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)

wsgi_app = "app.wsgi:app"
# The master builds the app once and forks the workers from it: they are ready at once and
# share its memory, instead of each importing and building everything again.
preload_app = True
bind = f"{_server.host}:{_server.port}"
workers = _server.web_concurrency
threads = _server.gunicorn_threads
timeout = _server.gunicorn_timeout
graceful_timeout = _server.gunicorn_graceful_timeout
keepalive = _server.gunicorn_keepalive
# Tight request limits, pinned: a request line over 4094 bytes is 414, more than 100 header
# fields or one over 8190 bytes is 431, before the app sees the request. The front proxy
# (deploy/nginx/) reads requests whole first; these hold whatever is in front.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# The app logs one access event per request itself; gunicorn's would duplicate it.
accesslog = None
errorlog = "-"
loglevel = _app_settings.log_level.lower()
# gunicorn's control socket lives in $HOME, shared by every master of a user: two servers on
# one machine would replace each other's. Nothing here uses gunicornc.
control_socket_disable = True
# The app reads X-Forwarded-* itself (TRUSTED_PROXIES hops, from FORWARDED_ALLOW_IPS peers;
# app/core/edge.py). gunicorn trusts the same peers, or none without a trusted proxy, and
# leaves the scheme to the app: its own reading of X-Forwarded-Proto ignores the hop count,
# so the two could disagree behind more than one proxy.
forwarded_allow_ips = _app_settings.forwarded_allow_ips if _app_settings.trusted_proxies else ""
secure_scheme_headers: dict[str, str] = {}


class AppLogger(Logger):  # type: ignore[misc]
    """Route gunicorn's own events through the app's stdout handler and format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        configure_logging(_app_settings)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True


logger_class = AppLogger


# Metrics (METRICS_PORT): workers write to a folder the master creates before forking them;
# the master serves the sum on METRICS_PORT and forgets the live gauges of workers that exit.
def on_starting(_server_: Any) -> None:
    # Here, not in each worker: a worker freeing the build's garbage would write to (and so
    # copy) pages it shares with the master, about 20 MiB of each worker's PSS.
    gc.collect()
    gc.enable()
    if _app_settings.metrics_port:
        telemetry.own_metrics_directory()


def when_ready(_server_: Any) -> None:
    telemetry.serve_metrics(_app_settings, _server.host)


def child_exit(_server_: Any, worker: Any) -> None:
    telemetry.process_exited(worker.pid)


def pre_fork(_server_: Any, _worker: Any) -> None:
    # What the master built stays put, so the workers' garbage collector does not write to
    # (and so copy) the memory pages they share with the master.
    gc.freeze()


def post_fork(_server_: Any, _worker: Any) -> None:
    """A worker never reuses a database connection it inherited from the master."""
    from app.core.extensions import db
    from app.wsgi import app  # built already, in the master

    with app.app_context():
        db.engine.dispose(close=False)
