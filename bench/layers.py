"""Where a request's CPU goes, layer by layer, in the template and in the bare baseline.

Run by bench/run.py (which also takes its ISBNs and its table from here), with the
benchmark's environment and database:

    python bench/layers.py <plan.json> <layers.json>

Both apps live in this one process. Each endpoint's requests go straight to each app's WSGI
callable (no server, no HTTP parsing), in interleaved rounds, while the kernel interrupts the
process at every tick of CPU time it uses (SIGPROF, 4 ms on most kernels). Each sample is
charged to the layer of the code it interrupted; code of no layer (the standard library, a
utility package) is charged to the layer that called it. A layer's share of the samples,
times the CPU the requests took, is its cost per request. Sampling does not slow the code it
measures, unlike a tracing profiler, but it only settles after a few thousand samples.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from werkzeug.test import EnvironBuilder

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# A sample goes to the first layer with a pattern in the file name of the code it stopped.
LAYERS: dict[str, tuple[str, ...]] = {
    "token check (PyJWT)": ("/jwt/", "/app/auth/tokens", "/app/auth/access"),
    "rate limits (Flask-Limiter, limits, redis)": ("/flask_limiter/", "/limits/", "/redis/"),
    "input and output (smorest, webargs, marshmallow, compiled dump, JSON)": (
        "/flask_smorest/",
        "/webargs/",
        "/marshmallow/",
        "<compiled_dump",
        "/app/core/compiled_dump",
        "json",
    ),
    "ORM and SQL building (SQLAlchemy)": ("/sqlalchemy/", "/flask_sqlalchemy/"),
    "database driver (psycopg)": ("/psycopg",),
    "logs (logging, ecs-logging)": ("/logging/", "/ecs_logging/", "/app/core/logging"),
    "Flask and werkzeug": ("/flask/", "/werkzeug/"),
    "the app's own code": (f"{ROOT}/app/", f"{BENCH}/baseline.py"),
}
OTHER = "everything else"
ROUNDS = 3  # each app and endpoint: the median of this many interleaved rounds, per layer
WARM_UP = 20  # requests before sampling starts


def isbn13(number: int) -> str:
    digits = f"978{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def layer_of(frame: FrameType | None) -> str:
    """The layer of the innermost frame that belongs to one, walking out through callers."""
    while frame is not None:
        filename = frame.f_code.co_filename
        for name, patterns in LAYERS.items():
            if any(pattern in filename for pattern in patterns):
                return name
        frame = frame.f_back
    return OTHER


def call(app: Any, environ: dict[str, Any]) -> int:
    statuses: list[str] = []
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    for _chunk in body:
        pass
    if hasattr(body, "close"):
        body.close()
    return int(statuses[0].split()[0])


def environs(request: dict[str, Any], count: int, block: int) -> list[dict[str, Any]]:
    """Built before sampling starts, so building them is charged to neither app."""
    built = []
    for number in range(count):
        body = request.get("json")
        if body is not None:
            body = {**body, "isbn": isbn13(block + number)}
        headers = {"Authorization": f"Bearer {request['token']}"}
        builder = EnvironBuilder(
            path=request["path"], method=request["method"], headers=headers, json=body
        )
        built.append(builder.get_environ())
        builder.close()
    return built


def sample(app: Any, environ_list: list[dict[str, Any]], cpu_seconds: float) -> dict[str, float]:
    """CPU ms per request of each layer, over requests until ``cpu_seconds`` of CPU are spent."""
    for environ in environ_list[:WARM_UP]:  # pools filled, statements cached
        call(app, environ)
    samples: Counter[str] = Counter()
    handler = signal.signal(
        signal.SIGPROF, lambda _signal, frame: samples.update([layer_of(frame)])
    )
    started, requests = time.process_time(), 0
    signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
    try:
        for environ in environ_list[WARM_UP:]:
            status = call(app, environ)
            if status >= 400:
                raise SystemExit(f"{environ['PATH_INFO']}: {status}")
            requests += 1
            if time.process_time() - started >= cpu_seconds:
                break
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, handler)
    spent_ms = (time.process_time() - started) * 1000
    total = max(sum(samples.values()), 1)
    return {layer: spent_ms * count / total / requests for layer, count in samples.items()}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import baseline  # its engine reads DATABASE_URL

    from app.wsgi import app as template

    requests_file, out_file = map(Path, sys.argv[1:3])
    plan = json.loads(requests_file.read_text())
    apps = {"template": template, "bare": baseline.app}
    rounds: dict[str, list[dict[str, float]]] = {}
    block = plan["isbn_block"]
    for request in plan["requests"]:
        for _ in range(ROUNDS):
            for name, app in apps.items():
                block += 1_000_000  # ISBNs no other request used
                environ_list = environs(request, WARM_UP + plan["count"], block)
                measured = sample(app, environ_list, plan["cpu_seconds"])
                rounds.setdefault(f"{request['name']} {name}", []).append(measured)
    result = {
        key: {
            layer: sorted(r.get(layer, 0.0) for r in runs)[ROUNDS // 2]
            for layer in [*LAYERS, OTHER]
        }
        for key, runs in rounds.items()
    }
    out_file.write_text(json.dumps(result, indent=2) + "\n")


def layer_table(layers: dict) -> list[str]:
    endpoints = list(dict.fromkeys(key.split()[0] for key in layers))
    lines = [
        "",
        "CPU per request by layer, ms, template / bare (bench/layers.py: both apps in one "
        "process, without server or HTTP parsing; sampled by CPU time)",
        "",
        f"| layer | {' | '.join(endpoints)} |",
        "|---|" + "---:|" * len(endpoints),
    ]
    for layer in [*layers[f"{endpoints[0]} template"], "total"]:
        cells = []
        for endpoint in endpoints:
            both = [layers[f"{endpoint} {name}"] for name in ("template", "bare")]
            ms = [sum(d.values()) if layer == "total" else d[layer] for d in both]
            cells.append(f"{ms[0]:.2f} / {ms[1]:.2f}")
        lines.append(f"| {layer} | {' | '.join(cells)} |")
    return lines


if __name__ == "__main__":
    main()
