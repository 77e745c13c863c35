"""The ceiling: a raw WSGI callable that answers with the bytes the template sent.

``bench/run.py`` records one response of the template per benchmarked request (status,
headers, body) into the JSON file named by ``BENCH_CEILING_RESPONSES``; this callable replays
it for the same method and path, reading and discarding any request body. Nothing is parsed,
checked or queried: it is what gunicorn alone costs for these responses.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Recorded = tuple[str, list[tuple[str, str]], bytes]

NOT_FOUND: Recorded = ("404 Not Found", [("Content-Type", "text/plain")], b"not recorded\n")


def load(path: str) -> dict[str, Recorded]:
    with open(path, encoding="utf-8") as file:
        recorded = json.load(file)
    responses: dict[str, Recorded] = {"GET /livez": ("200 OK", [], b"")}
    for key, response in recorded.items():
        body = base64.b64decode(response["body"])
        headers = [(name, value) for name, value in response["headers"]]
        headers.append(("Content-Length", str(len(body))))
        responses[key] = (response["status"], headers, body)
    return responses


RESPONSES = load(os.environ["BENCH_CEILING_RESPONSES"])


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    status, headers, body = RESPONSES.get(
        f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}", NOT_FOUND
    )
    start_response(status, headers)
    return [body]
