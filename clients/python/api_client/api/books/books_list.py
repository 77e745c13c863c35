from http import HTTPStatus
from typing import Any

import httpx

from ...client import AuthenticatedClient, Client
from ...models.book_page import BookPage
from ...models.books_list_sort import BooksListSort
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    page: int | Unset = 1,
    page_size: int | Unset = 20,
    q: str | Unset = "",
    sort: BooksListSort | Unset = BooksListSort.CREATED_AT_DESC,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["page"] = page

    params["page_size"] = page_size

    params["q"] = q

    json_sort: str | Unset = UNSET
    if not isinstance(sort, Unset):
        json_sort = sort.value

    params["sort"] = json_sort

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/api/v1/books",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> BookPage | Problem:
    if response.status_code == 200:
        response_200 = BookPage.from_dict(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    response_default = Problem.from_dict(response.json())

    return response_default


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[BookPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    page_size: int | Unset = 20,
    q: str | Unset = "",
    sort: BooksListSort | Unset = BooksListSort.CREATED_AT_DESC,
) -> Response[BookPage | Problem]:
    """Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

     Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

    Args:
        page (int | Unset):  Default: 1.
        page_size (int | Unset):  Default: 20.
        q (str | Unset):  Default: ''.
        sort (BooksListSort | Unset):  Default: BooksListSort.CREATED_AT_DESC.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BookPage | Problem]
    """

    kwargs = _get_kwargs(
        page=page,
        page_size=page_size,
        q=q,
        sort=sort,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    page_size: int | Unset = 20,
    q: str | Unset = "",
    sort: BooksListSort | Unset = BooksListSort.CREATED_AT_DESC,
) -> BookPage | Problem | None:
    """Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

     Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

    Args:
        page (int | Unset):  Default: 1.
        page_size (int | Unset):  Default: 20.
        q (str | Unset):  Default: ''.
        sort (BooksListSort | Unset):  Default: BooksListSort.CREATED_AT_DESC.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BookPage | Problem
    """

    return sync_detailed(
        client=client,
        page=page,
        page_size=page_size,
        q=q,
        sort=sort,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    page_size: int | Unset = 20,
    q: str | Unset = "",
    sort: BooksListSort | Unset = BooksListSort.CREATED_AT_DESC,
) -> Response[BookPage | Problem]:
    """Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

     Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

    Args:
        page (int | Unset):  Default: 1.
        page_size (int | Unset):  Default: 20.
        q (str | Unset):  Default: ''.
        sort (BooksListSort | Unset):  Default: BooksListSort.CREATED_AT_DESC.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BookPage | Problem]
    """

    kwargs = _get_kwargs(
        page=page,
        page_size=page_size,
        q=q,
        sort=sort,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    page: int | Unset = 1,
    page_size: int | Unset = 20,
    q: str | Unset = "",
    sort: BooksListSort | Unset = BooksListSort.CREATED_AT_DESC,
) -> BookPage | Problem | None:
    """Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

     Your books (an admin's: everyone's), newest first unless `sort` says otherwise.

    Args:
        page (int | Unset):  Default: 1.
        page_size (int | Unset):  Default: 20.
        q (str | Unset):  Default: ''.
        sort (BooksListSort | Unset):  Default: BooksListSort.CREATED_AT_DESC.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BookPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            page=page,
            page_size=page_size,
            q=q,
            sort=sort,
        )
    ).parsed
