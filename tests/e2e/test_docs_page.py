"""A developer opens /docs, signs in with the Authorize dialog and calls an endpoint.

The page must work offline: every request it makes goes to the service itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import TIMEOUT_MS, LiveServer

pytestmark = [pytest.mark.no_shared_db, pytest.mark.embedded_only]

EMAIL = "reader@example.com"
TOKEN_URL = "/api/v1/auth/token"
# Playwright sends the pattern as /source/: its slashes must be escaped.
GET_ME = re.compile(r"^GET \/api\/v1\/users\/me\b")


@dataclass
class Result:
    """What Swagger UI shows after Execute."""

    status: Locator
    body: Locator


def authorize(page: Page, origin: str, email: str, password: str) -> None:
    page.get_by_role("button", name="Authorize", exact=True).click()
    oauth2 = page.locator(".auth-container").filter(has_text="oauth2 (OAuth2, password)")
    oauth2.get_by_label("username:").fill(email)
    oauth2.get_by_label("password:", exact=True).fill(password)
    with page.expect_response(f"{origin}{TOKEN_URL}") as token:
        oauth2.get_by_role("button", name="Apply given OAuth2 credentials").click()
    response = token.value
    assert response.status == 200, (response.request.post_data, response.text())
    expect(oauth2.get_by_role("heading", name="Authorized")).to_be_visible(timeout=TIMEOUT_MS)
    oauth2.get_by_role("button", name="Close").click()
    expect(page.get_by_role("heading", name="Available authorizations")).to_be_hidden(
        timeout=TIMEOUT_MS
    )


def operation(page: Page, summary: re.Pattern[str]) -> Locator:
    return page.locator(".opblock").filter(has=page.get_by_role("button", name=summary))


def try_it_out(page: Page, summary: re.Pattern[str]) -> Result:
    block = operation(page, summary)
    block.get_by_role("button", name=summary).click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    live = block.locator(".live-responses-table")
    return Result(
        status=live.locator("tbody .response-col_status"),
        body=live.locator(".response-col_description .highlight-code"),
    )


def test_a_developer_signs_in_on_the_docs_page_and_calls_the_api(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    created = live_server.app.test_client().post(
        "/api/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD, "name": "Reader"}
    )
    assert created.status_code == 202, created.json
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))
    errors: list[Exception] = []
    page.on("pageerror", lambda error: errors.append(error))

    page.goto(f"{live_server.origin}/docs")
    authorize(page, live_server.origin, EMAIL, PASSWORD)
    result = try_it_out(page, GET_ME)

    expect(result.status).to_have_text("200", timeout=TIMEOUT_MS)
    expect(result.body).to_contain_text(EMAIL, timeout=TIMEOUT_MS)
    page.screenshot(path=tmp_path / "docs.png", full_page=True)

    # persistAuthorization: the token survives a reload, no second sign-in needed.
    page.reload()
    lock = operation(page, GET_ME).get_by_role("button", name="authorization button locked")
    expect(lock).to_be_visible(timeout=TIMEOUT_MS)
    again = try_it_out(page, GET_ME)
    expect(again.status).to_have_text("200", timeout=TIMEOUT_MS)
    expect(again.body).to_contain_text(EMAIL, timeout=TIMEOUT_MS)

    assert errors == []
    assert f"{live_server.origin}/docs/assets/swagger-ui-bundle.js" in requested
    assert f"{live_server.origin}/openapi.json" in requested
    elsewhere = [url for url in requested if not url.startswith(f"{live_server.origin}/")]
    assert elsewhere == [], "the docs page must work offline"
