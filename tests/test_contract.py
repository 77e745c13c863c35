"""The API keeps the promises its OpenAPI document makes, for inputs nobody thought of."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import PositiveDataAcceptanceConfig

from app.books.schemas import isbn_13_check_digit_ok
from app.core.schemas import NO_NUL, VISIBLE_TEXT
from tests.conftest import Account, SignUp

COMMITTED = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path)
    for path, item in COMMITTED["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
]


# A token must be one the API mailed, a rule JSON Schema cannot state: any other token is
# well formed and still refused, with 400, for exactly these operations.
REDEEMS_A_MAILED_TOKEN = {"/api/v1/auth/password-reset/confirm", "/api/v1/auth/verify-email"}


@st.composite
def isbn_13(draw: st.DrawFn) -> str:
    """Valid ISBN-13s, as a person might type them: plain, hyphenated or spaced."""
    body = draw(st.sampled_from(["978", "979"])) + draw(st.from_regex(r"\A[0-9]{9}\Z"))
    digits = next(body + d for d in "0123456789" if isbn_13_check_digit_ok(body + d))
    separator = draw(st.sampled_from(["", "-", " "]))
    return separator.join((digits[:3], digits[3:4], digits[4:7], digits[7:12], digits[12:]))


schemathesis.openapi.format("isbn13", isbn_13())


def test_documented_text_patterns_mean_what_the_fields_do() -> None:
    """A character the document calls visible is one str.strip() keeps, read as Python does
    and as JSON Schema (ECMA-262) does, so a client following the pattern is never refused
    for blank text, nor surprised by the NUL rule. (Every white-space character is in the BMP.)"""
    regress = pytest.importorskip("regress")  # the ECMA-262 engine schemathesis validates with
    ecma_visible, ecma_no_nul = regress.Regex(VISIBLE_TEXT), regress.Regex(NO_NUL)
    for code_point in range(0x10000):
        char = chr(code_point)
        visible = char != "\x00" and not char.isspace()
        assert bool(re.fullmatch(VISIBLE_TEXT, char)) is visible, hex(code_point)
        if 0xD800 <= code_point <= 0xDFFF:
            continue  # a lone surrogate is not text the ECMA engine can take
        assert (ecma_visible.find(char) is not None) is visible, hex(code_point)
        assert (ecma_no_nul.find(char) is not None) is (char != "\x00"), hex(code_point)


def test_the_committed_document_is_current(app: Flask) -> None:
    """`flask openapi write openapi.json` after an API change, so reviewers see the change."""
    served = app.test_client().get("/openapi.json").get_json()
    assert served == COMMITTED, "openapi.json is stale: run `make openapi`"


def generation_document(app: Flask) -> dict[str, Any]:
    """The served document, plus the one rule JSON Schema cannot state: a book's year may
    be next year at the latest, a bound that moves (so the document says it in words)."""
    document: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    for name in ("Book", "BookUpdate"):
        year = document["components"]["schemas"][name]["properties"]["published_year"]
        year["maximum"] = datetime.now(UTC).year + 1
    return document


def integers_as_integers(case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """JSON Schema counts 1943.0 as an integer; the API refuses it where it wants one
    (StrictInteger), so whole numbers are sent the way a JSON encoder writes integers."""

    def whole(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: whole(item) for key, item in value.items()}
        if isinstance(value, list):
            return [whole(item) for item in value]
        return value

    if isinstance(case.body, dict | list | float):
        case.body = whole(case.body)
    return case


def seed_books(app: Flask, account: Account) -> list[int]:
    """A few of the account's books, so reads and changes meet real rows, not only 404s."""
    client = app.test_client()
    ids = []
    for number, isbn in enumerate(("9780306406157", "9780140449136", None)):
        book = {"title": f"Seed {number}", "author": "Seeder", "isbn": isbn}
        response = client.post("/api/v1/books", json=book, headers=account.headers)
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])  # type: ignore[index]
    return ids


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_honours_the_document(
    app: Flask, sign_up: SignUp, method: str, path: str
) -> None:
    schema = schemathesis.openapi.from_dict(generation_document(app))
    schema.app = app
    if path in REDEEMS_A_MAILED_TOKEN:
        accepted = schema.config.checks.positive_data_acceptance.expected_statuses
        schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
            expected_statuses=[*accepted, "400"]
        )
    operation = schema[path][method]
    account = sign_up(admin=True)
    strategy = operation.as_strategy()
    if "{book_id}" in path:
        seeded = [
            operation.as_strategy(path_parameters={"book_id": i}) for i in seed_books(app, account)
        ]
        strategy = st.one_of(strategy, *seeded)
    elif path.startswith("/api/v1/books"):
        seed_books(app, account)

    @given(case=strategy.map(integers_as_integers))
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=account.headers)

    check()
