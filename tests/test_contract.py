"""The API keeps the promises its OpenAPI document makes, for inputs nobody thought of."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from app.schemas import NO_NUL, VISIBLE_TEXT
from tests.conftest import SignUp

COMMITTED = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path)
    for path, item in COMMITTED["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
]


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


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation_honours_the_document(
    app: Flask, sign_up: SignUp, method: str, path: str
) -> None:
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]
    account = sign_up(admin=True)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=account.headers)

    check()
