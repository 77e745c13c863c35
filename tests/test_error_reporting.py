"""What the error reporter scrubs from an event before it leaves the process.

tests/process/test_error_reporting.py proves it end to end against an ingest endpoint; these
cases pin down the shapes credentials take inside an event.
"""

from __future__ import annotations

from app.core.error_reporting import FILTERED, scrub

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


def test_credential_headers_and_cookies_are_filtered_in_either_shape() -> None:
    request = {
        "headers": {"Authorization": "Bearer abc", "Cookie": "s=1", "Accept": "*/*"},
        "cookies": {"session": "1"},
        "env": [["X-Api-Key", "k"], ["Host", "example.com"]],
    }
    assert scrub(request) == {
        "headers": {"Authorization": FILTERED, "Cookie": FILTERED, "Accept": "*/*"},
        "cookies": FILTERED,
        "env": [["X-Api-Key", FILTERED], ["Host", "example.com"]],
    }


def test_passwords_and_tokens_are_filtered_at_any_depth() -> None:
    event = {"extra": {"celery-job": {"kwargs": {"new_password": "p", "refresh_token": "t"}}}}
    assert scrub(event) == {
        "extra": {"celery-job": {"kwargs": {"new_password": FILTERED, "refresh_token": FILTERED}}}
    }


def test_credentials_inside_text_are_filtered() -> None:
    message = f"GET /reset?token=abc123&page=2 sent Bearer {JWT} and password=hunter2"
    assert scrub(message) == (
        f"GET /reset?token={FILTERED}&page=2 sent Bearer {FILTERED} and password={FILTERED}"
    )
    assert scrub(f"decoded {JWT} badly") == f"decoded {FILTERED} badly"


def test_what_is_no_credential_is_left_as_it_is() -> None:
    event = {"message": "book 12 not found", "tags": {"request_id": "r-1"}, "level": "error"}
    assert scrub(event) == event
