"""The API keeps the promises its OpenAPI document makes, for inputs nobody thought of."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings

from tests.conftest import SignUp

COMMITTED = json.loads((Path(__file__).parent.parent / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path)
    for path, item in COMMITTED["paths"].items()
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
]


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
