"""The HTTP edge: who the client is behind proxies, and the headers every response carries.

The service keeps no state in cookies: callers send a bearer token, so no request opens Flask's
signed-cookie session (see ``NoCookieSession``).

Behind ``TRUSTED_PROXIES`` proxies, werkzeug's ProxyFix takes the client address, scheme,
host, port and path prefix from the ``X-Forwarded-*`` values the proxies appended, counting
that many hops from the right, and only for requests that arrive from a proxy address
(``FORWARDED_ALLOW_IPS``). Rate-limit keys, access logs and absolute URLs then name the real
client and the public URL. With no trusted proxy, those headers change nothing.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

from app.core.errors import PROBLEM_CONTENT_TYPE
from app.core.settings import Settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# On every response: no content sniffing, no Referer leaving the service, no framing.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
HSTS = "max-age=31536000; includeSubDomains"


class ForwardedFromProxies:
    """ProxyFix for requests whose peer is a trusted proxy; everyone else's headers are ignored.

    gunicorn is given the same peers (``forwarded_allow_ips`` in gunicorn.conf.py), so the
    server and the app agree on whose forwarding headers count.
    """

    def __init__(
        self, wsgi_app: WSGIApplication, hops: int, proxies: Iterable[Network] | None
    ) -> None:
        self.direct = wsgi_app
        self.proxied = ProxyFix(
            wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
        self.proxies = None if proxies is None else tuple(proxies)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        wsgi_app = self.proxied if self.from_proxy(environ.get("REMOTE_ADDR")) else self.direct
        return wsgi_app(environ, start_response)

    def from_proxy(self, peer: str | None) -> bool:
        if self.proxies is None:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


class NoCookieSession(SessionInterface):
    """No session cookie is read or written. Flask's default opens a signed-cookie session on
    every request (building a signing serializer each time, about 2 % of a request that reads
    one book) for state this API never keeps there; with this, ``flask.session`` is Flask's
    null session, which refuses writes, so a cookie can never carry state by accident."""

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then hands the request a null session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def init_edge(app: Flask, settings: Settings) -> None:
    app.session_interface = NoCookieSession()
    if settings.trusted_proxies:
        app.wsgi_app = ForwardedFromProxies(  # type: ignore[method-assign]
            app.wsgi_app, settings.trusted_proxies, settings.proxy_networks
        )
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    # What an authenticated caller gets is theirs: no cache, shared or private, keeps it.
    if "Authorization" in request.headers:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def answer_server_refusals_as_problems() -> None:
    """gunicorn refuses some requests before the app sees them (a request line or header too
    large, a malformed request line) with an HTML page. Answer those as problems too, with
    the headers every response carries.

    gunicorn has no hook for these answers: its workers write them with
    ``gunicorn.util.write_error``, which this replaces. tests/process/test_server_refusals.py
    fails if a gunicorn release stops calling it.
    """
    from gunicorn import util  # the web server's alone: imported only when it starts

    def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
        problem = {
            "type": "about:blank",
            "title": reason,
            "status": status,
            "detail": message or reason,
        }
        body = json.dumps(problem).encode()
        head = [
            f"HTTP/1.1 {status} {reason}",
            "Connection: close",
            f"Content-Type: {PROBLEM_CONTENT_TYPE}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
        ]
        util.write_nonblock(sock, "\r\n".join([*head, "", ""]).encode("latin-1") + body)

    util.write_error = write_problem
