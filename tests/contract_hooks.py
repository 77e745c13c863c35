"""What `st run` needs to know that the OpenAPI document cannot say (schemathesis.toml loads it).

The document is fuzzed as the server serves it, never an edited copy. Some rules cannot be
written in JSON Schema, so their fields state them in words, and the failures they cause are
dropped here, exactly those and no others:

- an ISBN-13's check digit (the pattern states everything else about it);
- a book's year may be next year at the latest, a bound that moves every New Year;
- a password-reset or verification token must be one the API mailed: any other is well formed
  and still refused, with 400;
- a write's If-Match must name the current version (412 otherwise), and an Idempotency-Key may
  not be reused for another request (422): both depend on what came before, not on the request.

And the fuzzer needs to be signed in: every operation that wants a token gets one of a reader
account this module signs up, signed in again whenever a 401 says the token stopped working
(the fuzzer calls logout, too).
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.openapi.checks import RejectedPositiveData

from app.books.schemas import ISBN_13, isbn_13_check_digit_ok

ACCOUNT = {"email": "fuzzer@example.com", "password": "fuzzer's long password", "name": "Fuzzer"}
TIMEOUT = 30


@st.composite
def isbn_13(draw: st.DrawFn) -> str:
    """Valid ISBN-13s, as a person might type them: plain, hyphenated or spaced."""
    body = draw(st.sampled_from(["978", "979"])) + draw(st.from_regex(r"\A[0-9]{9}\Z"))
    digits = next(body + d for d in "0123456789" if isbn_13_check_digit_ok(body + d))
    separator = draw(st.sampled_from(["", "-", " "]))
    return separator.join((digits[:3], digits[3:4], digits[4:7], digits[7:12], digits[12:]))


schemathesis.openapi.format("isbn13", isbn_13())


# Operations whose token must be one the API mailed (see above).
REDEEMS_A_MAILED_TOKEN = {"/api/v1/auth/password-reset/confirm", "/api/v1/auth/verify-email"}


def breaks_an_unstated_rule(field: str, value: Any) -> bool:
    """Whether ``value`` is refused only for a rule the document states in words alone."""
    if field == "isbn" and isinstance(value, str):
        digits = value.replace("-", "").replace(" ", "")
        return bool(ISBN_13.fullmatch(digits)) and not isbn_13_check_digit_ok(digits)
    if field == "published_year" and isinstance(value, int | float):
        return value > datetime.now(UTC).year + 1
    return False


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext, failure: Any, case: schemathesis.Case[Any], response: Any
) -> bool:
    """Keep every failure except schema-valid requests refused for the rules above alone."""
    if not isinstance(failure, RejectedPositiveData):
        return True
    if case.operation.path in REDEEMS_A_MAILED_TOKEN:
        return bool(response.status_code != 400)
    if response.status_code == 412 and "If-Match" in (case.headers or {}):
        return False
    if response.status_code != 422:
        return True
    errors = response.json().get("errors") or {}
    if set(errors) == {"headers"} and set(errors["headers"]) == {"Idempotency-Key"}:
        return "Idempotency-Key" not in (case.headers or {})  # reused for another request
    refused = errors.get("json") or {}
    body = case.body if isinstance(case.body, dict) else {}
    excused = {field for field in refused if breaks_an_unstated_rule(field, body.get(field))}
    return not (refused and excused == set(refused))


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - the URL of the server under test
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@schemathesis.auth()
class SignedIn:
    """A reader's access token; Schemathesis signs in again after a 401 (retry_on)."""

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
        base = context.operation.schema.get_base_url()
        status, _ = post_json(f"{base}/api/v1/auth/signup", ACCOUNT)
        assert status == 202, f"cannot sign up the fuzzer's account: {status}"
        login = {"email": ACCOUNT["email"], "password": ACCOUNT["password"]}
        status, tokens = post_json(f"{base}/api/v1/auth/login", login)
        assert status == 200, f"cannot sign in the fuzzer's account: {status} {tokens}"
        return str(tokens["access_token"])

    def set(
        self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext
    ) -> None:
        case.headers["Authorization"] = f"Bearer {data}"
