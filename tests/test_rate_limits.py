"""Where rate limits are checked: each limited view checks its own. Flask-Limiter's pass before
every request, which finds nothing in this service, is left out, and stays for the kinds of
limit that need it."""

from __future__ import annotations

import flask
import pytest
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.core.extensions import limiter
from app.core.rate_limits import check_limits_in_views_only

pytestmark = pytest.mark.embedded_only
LOGIN = {"email": "a@example.com", "password": "wrong password"}


def test_limited_views_check_their_limits_without_a_pass_before_each_request(
    limited_app: Flask,
) -> None:
    hooks = limited_app.before_request_funcs[None]
    assert not [hook for hook in hooks if getattr(hook, "__self__", None) is limiter]
    client = limited_app.test_client()
    statuses = [client.post("/api/v1/auth/login", json=LOGIN).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def plain_app(limits: Limiter) -> Flask:
    app = Flask(__name__)
    app.config["RATELIMIT_STORAGE_URI"] = "memory://"
    limits.init_app(app)
    return app


def test_a_default_limit_keeps_the_pass() -> None:
    limits = Limiter(key_func=get_remote_address, default_limits=["1 per minute"])
    app = plain_app(limits)
    app.add_url_rule("/", "index", lambda: "ok")
    check_limits_in_views_only(app, limits)
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]


def test_a_blueprint_limit_keeps_the_pass() -> None:
    limits = Limiter(key_func=get_remote_address)
    app = plain_app(limits)
    blueprint = flask.Blueprint("limited", __name__)
    blueprint.add_url_rule("/", "index", lambda: "ok")
    limits.limit("1 per minute")(blueprint)
    app.register_blueprint(blueprint)
    check_limits_in_views_only(app, limits)
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]
