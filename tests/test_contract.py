"""The OpenAPI document says what the API does: it is committed as served, and its patterns mean
what the fields do. (tests/process/test_fuzzing.py fuzzes the running server against it.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.books.schemas import ISBN_13_AS_TYPED
from app.core.schemas import NO_NUL, VISIBLE_TEXT
from tests.conftest import SignUp

COMMITTED = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())


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


# as typed -> (the document's pattern matches it, the API accepts it)
ISBNS_AS_TYPED = {
    "9780306406157": (True, True),
    "978-0-306-40615-7": (True, True),
    " 979 10 323 0569 0 ": (True, True),
    "978-0-306-40615-8": (True, False),  # a wrong check digit: what the pattern cannot state
    "978030640615": (False, False),  # twelve digits
    "97803064061570": (False, False),  # fourteen
    "9770306406157": (False, False),  # neither 978 nor 979
    "978_0306406157": (False, False),
}


def test_the_isbn_pattern_states_every_rule_but_the_check_digit(
    client: FlaskClient, sign_up: SignUp
) -> None:
    """Read by ECMA-262 as JSON Schema does, the pattern refuses what the API refuses, except a
    wrong check digit (the field's description says so, and the fuzzer's hooks excuse it)."""
    regress = pytest.importorskip("regress")
    pattern = regress.Regex(ISBN_13_AS_TYPED)
    reader = sign_up()
    for isbn, (matches, accepted) in ISBNS_AS_TYPED.items():
        assert (pattern.find(isbn) is not None) is matches, isbn
        book = {"title": f"Book {isbn}", "author": "A", "isbn": isbn}
        created = client.post("/api/v1/books", json=book, headers=reader.headers)
        assert (created.status_code == 201) is accepted, (isbn, created.json)
        if accepted:  # the next spelling of the same ISBN would be a duplicate
            client.delete(created.headers["Location"], headers=reader.headers)
