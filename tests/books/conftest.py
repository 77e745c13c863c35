"""Books are added through the API, as a client would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Account

BOOKS = "/api/v1/books"
# Valid ISBN-13s (check digit included), for tests that need several distinct ones.
ISBNS = ["9780306406157", "9780140449136", "9780262033848", "9781492056355", "9791032305690"]

AddBook = Callable[..., dict[str, Any]]


@pytest.fixture
def add_book(client: FlaskClient) -> AddBook:
    """``add_book(account, title="Dune")``: create a book over HTTP and return its JSON."""

    def add(account: Account, **fields: Any) -> dict[str, Any]:
        body = {"title": "A Book", "author": "An Author", **fields}
        response = client.post(BOOKS, json=body, headers=account.headers)
        assert response.status_code == 201, response.json
        book: dict[str, Any] = response.get_json()
        return book

    return add
