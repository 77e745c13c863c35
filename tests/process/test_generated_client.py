"""A client developer drives the API through the generated client (clients/python/, `make
client`) against the Procfile's gunicorn: operation-named functions, and typed results with
nothing optional that the server always sends (this file passes mypy --strict as it is)."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, TypeVar

import pytest
from api_client import AuthenticatedClient, Client
from api_client.api.auth import auth_login, auth_logout, auth_refresh, auth_signup
from api_client.api.books import (
    books_create,
    books_delete,
    books_exports,
    books_get,
    books_list,
    books_update,
)
from api_client.api.tasks import tasks_get
from api_client.api.users import users_me
from api_client.models import (
    Accepted,
    Book,
    BookCreate,
    BookPage,
    BooksListSort,
    BookUpdate,
    ExportRequest,
    ExportRequestFormat,
    Job,
    JobState,
    Login,
    Problem,
    Refresh,
    Signup,
    TokenPair,
    User,
)
from api_client.types import Response

from tests.conftest import PASSWORD
from tests.process.conftest import Databases, Processes, environment

Parsed = TypeVar("Parsed")
EXPORT_TIMEOUT = 15.0  # seconds for an in-process export to finish


def expect(response: Response[Any], kind: type[Parsed], status: int) -> Parsed:
    """The parsed body of a response with ``status``, as the type the client says it is."""
    assert response.status_code == status, response.content
    assert isinstance(response.parsed, kind), response.content
    return response.parsed


@pytest.fixture(scope="module")
def base_url(module_processes: Processes, module_databases: Databases) -> str:
    """The Procfile's web process, or the server at API_URL: `make test-previous` runs this
    release's client against the next release's server that way."""
    if os.environ.get("API_URL"):
        return os.environ["API_URL"]
    server = module_processes.web(environment(DATABASE_URL=module_databases.create()))
    return f"http://127.0.0.1:{server.port}"


def test_a_client_manages_its_books_exports_them_and_signs_out(base_url: str) -> None:
    email = f"client-{uuid.uuid4().hex[:8]}@example.com"  # a server may be shared
    with Client(base_url=base_url) as anonymous:
        signup = Signup(email=email, password=PASSWORD, name="Ada")
        accepted = expect(auth_signup.sync_detailed(client=anonymous, body=signup), Accepted, 202)
        assert accepted.detail
        login = Login(email=email, password=PASSWORD)
        pair = expect(auth_login.sync_detailed(client=anonymous, body=login), TokenPair, 200)

    with AuthenticatedClient(base_url=base_url, token=pair.access_token) as client:
        me = expect(users_me.sync_detailed(client=client), User, 200)
        added = [
            expect(
                books_create.sync_detailed(
                    client=client,
                    body=BookCreate(title=f"Book {n}", author="Saint-Exupéry", isbn=None),
                ),
                Book,
                201,
            )
            for n in range(3)
        ]
        first = added[0]
        assert (first.owner_id, first.isbn, first.created_at.tzinfo is not None) == (
            me.id,
            None,
            True,
        )

        listed = books_list.sync_detailed(
            client=client, page=1, page_size=2, sort=BooksListSort.TITLE
        )
        page = expect(listed, BookPage, 200)
        assert (page.total, page.page, page.page_size) == (3, 1, 2)
        assert [book.title for book in page.items] == ["Book 0", "Book 1"]
        assert 'rel="next"' in listed.headers["link"]
        last = expect(
            books_list.sync_detailed(client=client, page=2, page_size=2, sort=BooksListSort.TITLE),
            BookPage,
            200,
        )
        assert [book.id for book in last.items] == [added[2].id]

        assert expect(books_get.sync_detailed(first.id, client=client), Book, 200) == first
        changes = BookUpdate(title="Renamed", published_year=1943)
        updated = expect(
            books_update.sync_detailed(first.id, client=client, body=changes), Book, 200
        )
        assert (updated.title, updated.author, updated.published_year) == (
            "Renamed",
            first.author,
            1943,
        )
        assert books_delete.sync_detailed(added[1].id, client=client).status_code == 204
        gone = expect(books_get.sync_detailed(added[1].id, client=client), Problem, 404)
        assert gone.status == 404

        request = ExportRequest(format_=ExportRequestFormat.JSON)
        started = books_exports.sync_detailed(client=client, body=request)
        job = expect(started, Job, 202)
        assert started.headers["location"] == f"/api/v1/tasks/{job.id}"
        deadline = time.monotonic() + EXPORT_TIMEOUT
        while job.state is not JobState.SUCCESS:
            assert job.state is not JobState.FAILURE, job.error
            assert time.monotonic() < deadline, f"the export is still {job.state}"
            time.sleep(0.1)
            job = expect(tasks_get.sync_detailed(job.id, client=client), Job, 200)
        assert job.result["count"] == 2
        assert [book["title"] for book in job.result["books"]] == ["Renamed", "Book 2"]

    with Client(base_url=base_url) as anonymous:
        refreshed = auth_refresh.sync_detailed(
            client=anonymous, body=Refresh(refresh_token=pair.refresh_token)
        )
        new_pair = expect(refreshed, TokenPair, 200)

    with AuthenticatedClient(base_url=base_url, token=new_pair.access_token) as client:
        assert auth_logout.sync_detailed(client=client).status_code == 204
        assert expect(users_me.sync_detailed(client=client), Problem, 401).status == 401
        after_logout = auth_refresh.sync_detailed(
            client=client, body=Refresh(refresh_token=new_pair.refresh_token)
        )
        assert expect(after_logout, Problem, 401).status == 401
