"""Browser fixtures: the real app served on a loopback port, and Debian's headless chromium.

Browser tests skip with a stated reason where chromium is missing, except under CI=true,
where a missing browser fails the run instead of hiding the tests.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from app.core.extensions import db
from tests.conftest import make_settings

TIMEOUT_MS = 15_000
MISSING_CHROMIUM = "chromium is not installed: apt-get install chromium"

# We run as root on a machine without network: no sandbox, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
]


@dataclass
class LiveServer:
    """The app served over real HTTP on 127.0.0.1, with a database every thread can see."""

    app: Flask
    origin: str


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The app writes its own access log; werkzeug's second line would only add noise."""


@pytest.fixture
def chromium_executable() -> str:
    # Debian's chromium here; GitHub's Ubuntu runners ship Google Chrome instead.
    path = shutil.which("chromium") or shutil.which("google-chrome")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{MISSING_CHROMIUM} (CI=true, so browser tests may not skip)")
        pytest.skip(MISSING_CHROMIUM)
    return path


@pytest.fixture
def live_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh app on a migrated SQLite file, served by a threaded werkzeug server.

    The shared fixtures keep each test in an uncommitted transaction on one connection,
    which the server's threads cannot share, so tests that use this opt out of it.
    """
    if "no_shared_db" not in request.keywords:
        raise pytest.UsageError("tests that use live_server must be marked no_shared_db")
    app = create_app(make_settings(database_url=f"sqlite:///{tmp_path / 'live.db'}"))
    with app.app_context():
        upgrade()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, origin=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=TIMEOUT_MS / 1000)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def browser(chromium_executable: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
