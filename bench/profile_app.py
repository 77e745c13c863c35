"""Profile one request of the template in-process with pyinstrument, and name the top costs.

    python -m bench.profile_app --path /api/v1/books --query page_size=100 --token T --out DIR

The app is built by ``create_app()`` from the environment (``bench/run.py`` passes the same
production environment the servers get). Requests go straight to the WSGI callable with a
prepared environ, so the profile holds the app's cost and no test-client overhead; log events
go to stdout as in the servers. Writes ``profile.txt`` (the call tree), ``profile.html`` and
``profile.json`` (time per layer, per package and per function) into DIR.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import SELF_TIME_FRAME_IDENTIFIER, Frame
from werkzeug.test import EnvironBuilder

from app import create_app

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layer:
    """A named slice of the request: the outermost frames whose function and file match."""

    name: str
    function: str
    path_part: str

    def matches(self, frame: Frame) -> bool:
        return frame.function == self.function and self.path_part in (frame.file_path or "")


# What the template does for a request, in the order it does it. Time is inclusive and a
# frame counts for the outermost layer it is in only, so nested layers are not counted twice.
LAYERS = [
    Layer("request logging: start (request id)", "start_request", "app/logging.py"),
    Layer("rate limiter check", "_check_request_limit", "flask_limiter/"),
    Layer("token check: JWT decode + user query", "verify_jwt_in_request", "flask_jwt_extended/"),
    Layer("argument parsing (webargs, marshmallow load)", "_get_args", "webargs/"),
    Layer("argument parsing (webargs, marshmallow load)", "parse", "webargs/core.py"),
    Layer("paginate: count + page query (ORM)", "paginate", "app/pagination.py"),
    Layer("service query / load (ORM)", "get_book", "app/books/service.py"),
    Layer("service create + commit (ORM)", "create_book", "app/books/service.py"),
    Layer("Link header", "link_header", "app/pagination.py"),
    Layer("serialization: marshmallow dump", "dump", "marshmallow/schema.py"),
    Layer("JSON encoding (Flask provider)", "response", "flask/json/provider.py"),
    Layer("JSON encoding (Flask provider)", "dumps", "flask/json/provider.py"),
    Layer("request logging: access event (ECS JSON)", "log_access", "app/logging.py"),
    Layer("session teardown (rollback, return connection)", "remove", "sqlalchemy/orm/scoping.py"),
    Layer(
        "session teardown (rollback, return connection)", "_teardown_session", "flask_sqlalchemy"
    ),
]


def package_of(file_path: str | None) -> str:
    """The library a frame's file belongs to: the top-level package, or app.<module>."""
    if not file_path:
        return "?"
    path = Path(file_path)
    parts = path.parts
    if "site-packages" in parts:
        top = parts[parts.index("site-packages") + 1]
        return top.removesuffix(".py")
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        pass
    else:
        return ".".join(relative.with_suffix("").parts[:2])
    for index, part in enumerate(parts):
        if part.startswith("python3") and index + 1 < len(parts):
            return "stdlib:" + parts[index + 1].removesuffix(".py")
    return path.name


def self_times(frame: Frame, owner: Frame | None = None) -> Iterable[tuple[Frame, float]]:
    """(frame, self time) for every frame that spent time itself."""
    if frame.identifier == SELF_TIME_FRAME_IDENTIFIER:
        if owner is not None:
            yield owner, frame.time
        return
    if not frame.children and not frame.is_synthetic:
        yield frame, frame.time
    for child in frame.children:
        yield from self_times(child, frame)


def layer_times(frame: Frame, inside: bool = False) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    layer = None if inside else next((x for x in LAYERS if x.matches(frame)), None)
    if layer is not None:
        totals[layer.name] += frame.time
    for child in frame.children:
        for name, seconds in layer_times(child, inside or layer is not None).items():
            totals[name] += seconds
    return totals


def isbn13(number: int) -> str:
    digits = f"978{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", required=True)
    parser.add_argument("--query", default="")
    parser.add_argument("--token", required=True)
    parser.add_argument("--body", help="JSON request body; an isbn in it is made fresh per request")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    app = create_app()
    environ = EnvironBuilder(
        path=args.path,
        method=args.method,
        query_string=args.query,
        headers={"Authorization": f"Bearer {args.token}", "Accept": "application/json"},
        content_type="application/json" if args.body else None,
    ).get_environ()
    template = json.loads(args.body) if args.body else None
    numbers = itertools.count(700_000_000)

    def next_body() -> bytes:
        if template is None:
            return b""
        if "isbn" not in template:
            return json.dumps(template).encode()
        return json.dumps({**template, "isbn": isbn13(next(numbers))}).encode()

    def one_request() -> None:
        statuses: list[str] = []

        def start_response(status: str, _headers: Any, _exc_info: Any = None) -> Callable[..., Any]:
            statuses.append(status)
            return lambda _data: None

        payload = next_body()
        request_environ = {
            **environ,
            "wsgi.input": io.BytesIO(payload),
            "CONTENT_LENGTH": str(len(payload)),
        }
        answer = app(request_environ, start_response)
        try:
            b"".join(answer)
        finally:
            getattr(answer, "close", lambda: None)()
        if not statuses[0].startswith("2"):
            raise SystemExit(f"profile: {args.method} {args.path} answered {statuses[0]}")

    for _ in range(50):  # warm up: connections, compiled SQL cache, imports done lazily
        one_request()
    timings = []
    for _ in range(args.requests):
        started = time.perf_counter()
        one_request()
        timings.append(time.perf_counter() - started)

    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(args.requests):
        one_request()
    session = profiler.stop()
    root = session.root_frame()
    if root is None:
        raise SystemExit("profile: no samples")

    total = root.time
    packages: dict[str, float] = defaultdict(float)
    functions: dict[tuple[str, str, str], float] = defaultdict(float)
    for frame, seconds in self_times(root):
        package = package_of(frame.file_path)
        packages[package] += seconds
        functions[(frame.function, frame.file_path_short or "?", package)] += seconds

    def share(seconds: float) -> dict[str, float]:
        return {
            "ms_per_request": round(seconds * 1000 / args.requests, 3),
            "percent": round(100 * seconds / total, 1),
        }

    layers = layer_times(root)
    layers["other: Flask, Werkzeug, flask-smorest dispatch"] = total - sum(layers.values())
    summary = {
        "request": f"{args.method} {args.path}?{args.query}",
        "requests": args.requests,
        "unprofiled_ms_per_request": {
            "median": round(statistics.median(timings) * 1000, 3),
            "mean": round(statistics.fmean(timings) * 1000, 3),
        },
        "profiled_ms_per_request": round(total * 1000 / args.requests, 3),
        "layers": {
            name: share(seconds)
            for name, seconds in sorted(layers.items(), key=lambda item: -item[1])
        },
        "self_time_by_package": {
            name: share(seconds)
            for name, seconds in sorted(packages.items(), key=lambda item: -item[1])[:15]
        },
        "self_time_by_function": [
            {"function": function, "where": where, "package": package, **share(seconds)}
            for (function, where, package), seconds in sorted(
                functions.items(), key=lambda item: -item[1]
            )[:20]
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.txt").write_text(
        profiler.output_text(unicode=True, color=False, show_all=False)
    )
    (args.out / "profile.html").write_text(profiler.output_html())
    session.save(str(args.out / "profile.pyisession"))  # pyinstrument --load to explore
    (args.out / "profile.json").write_text(json.dumps(summary, indent=2) + "\n")
    sys.stderr.write(f"profile written to {args.out}\n")


if __name__ == "__main__":
    main()
