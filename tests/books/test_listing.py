"""A reader pages through, searches and sorts their shelf."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.books.conftest import BOOKS, AddBook
from tests.conftest import Account, SignUp


def listing(client: FlaskClient, account: Account, query: str = "") -> dict[str, Any]:
    response = client.get(f"{BOOKS}?{query}", headers=account.headers)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.get_json()
    body["link"] = response.headers.get("Link", "")
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return [book["title"] for book in body["items"]]


def links(header: str) -> dict[str, dict[str, list[str]]]:
    """rel -> parsed query of its URL."""
    found = {}
    for part in filter(None, header.split(", ")):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = parse_qs(urlsplit(url[1:-1]).query)
    return found


def test_an_empty_shelf(client: FlaskClient, sign_up: SignUp) -> None:
    body = listing(client, sign_up())
    assert body == {"items": [], "total": 0, "page": 1, "page_size": 20, "link": ""}


def test_pages_with_links_to_their_neighbours(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    for number in range(5):
        add_book(reader, title=f"Book {number}")

    first = listing(client, reader, "page_size=2&sort=title")
    assert titles(first) == ["Book 0", "Book 1"]
    assert (first["total"], first["page"], first["page_size"]) == (5, 1, 2)
    assert links(first["link"]) == {"next": {"page": ["2"], "page_size": ["2"], "sort": ["title"]}}

    middle = listing(client, reader, "page=2&page_size=2&sort=title")
    assert titles(middle) == ["Book 2", "Book 3"]
    assert set(links(middle["link"])) == {"prev", "next"}

    last = listing(client, reader, "page=3&page_size=2&sort=title")
    assert titles(last) == ["Book 4"]
    assert links(last["link"])["prev"]["page"] == ["2"]
    assert "next" not in links(last["link"])

    beyond = listing(client, reader, "page=9&page_size=2&sort=title")
    assert beyond["items"] == []
    assert beyond["total"] == 5
    assert "next" not in links(beyond["link"])


def test_the_default_page_is_twenty_newest_first(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    for number in range(21):
        add_book(reader, title=f"Book {number:02}")
    body = listing(client, reader)
    assert len(body["items"]) == 20
    assert titles(body)[:2] == ["Book 20", "Book 19"]
    assert listing(client, reader, "page=2")["items"][0]["title"] == "Book 00"


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=x", "page_size=0", "page_size=101", "page_size=1.5"]
)
def test_page_arguments_are_bounded(client: FlaskClient, sign_up: SignUp, query: str) -> None:
    response = client.get(f"{BOOKS}?{query}", headers=sign_up().headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert query.split("=")[0] in response.get_json()["errors"]["query"]


def test_page_size_one_hundred_is_allowed(client: FlaskClient, sign_up: SignUp) -> None:
    assert listing(client, sign_up(), "page_size=100")["page_size"] == 100


def test_unknown_and_invalid_query_arguments_are_refused(
    client: FlaskClient, sign_up: SignUp
) -> None:
    reader = sign_up()
    for query, field in (("sort=price", "sort"), ("sort=-", "sort"), ("per_page=5", "per_page")):
        response = client.get(f"{BOOKS}?{query}", headers=reader.headers)
        assert response.status_code == 422, query
        assert field in response.get_json()["errors"]["query"], query


def test_search_ignores_case_in_title_and_author(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    add_book(reader, title="The Hobbit", author="J. R. R. Tolkien")
    add_book(reader, title="Dune", author="Frank Herbert")
    add_book(reader, title="Tolkien: A Biography", author="Humphrey Carpenter")
    assert sorted(titles(listing(client, reader, "q=TOLKIEN"))) == [
        "The Hobbit",
        "Tolkien: A Biography",
    ]
    assert titles(listing(client, reader, "q=hErBeRt")) == ["Dune"]
    assert titles(listing(client, reader, "q=%20%20dune%20")) == ["Dune"]  # trimmed
    assert listing(client, reader, "q=nothing")["total"] == 0
    assert listing(client, reader, "q=")["total"] == 3  # an empty search is no filter


def test_search_folds_accented_letters_but_keeps_them_distinct(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    add_book(reader, title="L'École des femmes", author="Molière")
    add_book(reader, title="Ecology", author="Odum")
    add_book(reader, title="Ωmega 😀", author="Ἀριστοτέλης")
    add_book(reader, title="Party 🎉", author="Ümlaut")
    assert titles(listing(client, reader, "q=école")) == ["L'École des femmes"]
    assert titles(listing(client, reader, "q=ÉCOLE")) == ["L'École des femmes"]
    assert titles(listing(client, reader, "q=MOLIÈRE")) == ["L'École des femmes"]
    assert titles(listing(client, reader, "q=ecol")) == ["Ecology"]  # é is not e
    assert titles(listing(client, reader, "q=ωMEGA")) == ["Ωmega 😀"]
    assert titles(listing(client, reader, "q=ümlaut")) == ["Party 🎉"]
    assert titles(listing(client, reader, "q=😀")) == ["Ωmega 😀"]  # each emoji is itself
    assert titles(listing(client, reader, "q=🎉")) == ["Party 🎉"]
    assert listing(client, reader, "q=🤖")["total"] == 0


def test_wildcards_in_a_search_match_themselves(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    add_book(reader, title="100% Cotton")
    add_book(reader, title="1000 Cotton")
    add_book(reader, title="snake_case")
    add_book(reader, title="snakeXcase")
    add_book(reader, title="a/b")
    assert titles(listing(client, reader, "q=100%25")) == ["100% Cotton"]
    assert titles(listing(client, reader, "q=e_c")) == ["snake_case"]
    assert titles(listing(client, reader, "q=a/b")) == ["a/b"]
    assert listing(client, reader, "q=%25")["total"] == 1


SHELF = [  # title, published_year; created in this order
    ("banana", 2001),
    ("Apple", None),
    ("cherry", 1999),
    ("apple", 2001),
]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("title", ["Apple", "apple", "banana", "cherry"]),
        ("-title", ["cherry", "banana", "apple", "Apple"]),
        ("created_at", ["banana", "Apple", "cherry", "apple"]),
        ("-created_at", ["apple", "cherry", "Apple", "banana"]),
        ("published_year", ["cherry", "banana", "apple", "Apple"]),
        ("-published_year", ["apple", "banana", "cherry", "Apple"]),
    ],
)
def test_each_sort_key_in_both_directions(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook, sort: str, expected: list[str]
) -> None:
    """Case-insensitive titles, books without a year last, and ties broken by id in the
    sort's direction, so equal keys keep their creation order (or its reverse)."""
    reader = sign_up()
    for title, year in SHELF:
        add_book(reader, title=title, published_year=year)
    assert titles(listing(client, reader, f"sort={sort}")) == expected


def test_pages_are_stable_when_every_key_ties(
    client: FlaskClient, sign_up: SignUp, add_book: AddBook
) -> None:
    reader = sign_up()
    ids = [add_book(reader, title="Same", published_year=2000)["id"] for _ in range(7)]
    for sort, order in (("title", ids), ("-published_year", ids[::-1])):
        seen = []
        for page in (1, 2, 3):
            body = listing(client, reader, f"sort={sort}&page_size=3&page={page}")
            seen += [book["id"] for book in body["items"]]
        assert seen == order, sort
