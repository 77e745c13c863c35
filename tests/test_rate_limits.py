"""Where rate limits are checked: each limited view checks its own. Flask-Limiter's pass before
every request, which finds nothing in this service, is left out, and stays for the kinds of
limit that need it."""

from __future__ import annotations

from typing import Any

import flask
import pytest
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.core.extensions import limiter
from app.core.rate_limits import check_limits_in_views_only

pytestmark = pytest.mark.embedded_only
LOGIN = {"email": "a@example.com", "password": "wrong password"}


def has_pass_before_views(app: Flask, rate_limiter: Limiter) -> bool:
    hooks = app.before_request_funcs.get(None, [])
    return any(getattr(hook, "__self__", None) is rate_limiter for hook in hooks)


def test_limited_views_check_their_limits_without_a_pass_before_each_request(
    limited_app: Flask,
) -> None:
    assert not has_pass_before_views(limited_app, limiter)
    client = limited_app.test_client()
    statuses = [client.post("/api/v1/auth/login", json=LOGIN).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def plain_app(rate_limiter: Limiter, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(RATELIMIT_STORAGE_URI="memory://", **config)
    rate_limiter.init_app(app)
    app.add_url_rule("/", "index", lambda: "ok")
    return app


def test_a_default_limit_keeps_the_pass() -> None:
    # A limit may be a function of the request: the check must not call it at start-up.
    rate_limiter = Limiter(
        get_remote_address, default_limits=[lambda: "1 per minute" if flask.request else ""]
    )
    app = plain_app(rate_limiter)
    check_limits_in_views_only(app, rate_limiter)
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]


def test_a_blueprint_limit_keeps_the_pass() -> None:
    rate_limiter = Limiter(get_remote_address)
    app = plain_app(rate_limiter)
    blueprint = flask.Blueprint("limited", __name__)
    blueprint.add_url_rule("/limited", "index", lambda: "ok")
    rate_limiter.limit("1 per minute")(blueprint)
    app.register_blueprint(blueprint)
    check_limits_in_views_only(app, rate_limiter)
    client = app.test_client()
    assert [client.get("/limited").status_code for _ in range(2)] == [200, 429]


@pytest.mark.parametrize(
    "declared",
    [
        {"application_limits": ["1 per minute"]},
        {"meta_limits": ["1 per hour"]},
        {"in_memory_fallback": ["1 per minute"]},
    ],
)
def test_limits_of_other_kinds_keep_the_pass(declared: dict[str, Any]) -> None:
    rate_limiter = Limiter(get_remote_address, **declared)
    app = plain_app(rate_limiter)
    check_limits_in_views_only(app, rate_limiter)
    assert has_pass_before_views(app, rate_limiter)


def test_limits_switched_off_in_flask_limiter_leave_nothing_to_remove() -> None:
    rate_limiter = Limiter(get_remote_address)
    app = plain_app(rate_limiter, RATELIMIT_ENABLED=False)
    check_limits_in_views_only(app, rate_limiter)
    assert app.test_client().get("/").status_code == 200
