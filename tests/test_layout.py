"""app/core/ reads in one direction: no module imports one that imports it back, however
indirectly, and the core imports observability only from the one place that turns it on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded_only

CORE = Path(__file__).resolve().parent.parent / "app" / "core"
OBSERVABILITY = {
    "app.core.telemetry",
    "app.core.metrics",
    "app.core.tracing",
    "app.core.error_reporting",
}


def core_modules() -> dict[str, Path]:
    return {f"app.core.{path.stem}": path for path in sorted(CORE.glob("*.py"))}


def imported(path: Path, modules: set[str]) -> set[str]:
    """The modules among ``modules`` that ``path`` imports anywhere (at the top, in functions,
    under ``if TYPE_CHECKING``): ``import a.b``, ``from a import b``, ``from a.b import c``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & modules


def import_graph() -> dict[str, set[str]]:
    modules = core_modules()
    return {name: imported(path, set(modules)) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import path that comes back to where it started, for each module on a circle."""
    found = []
    for start in sorted(graph):
        paths = [[start]]
        seen = {start}
        while paths:
            path = paths.pop()
            for target in sorted(graph[path[-1]]):
                if target == start:
                    found.append([*path, start])
                    paths.clear()
                    break
                if target not in seen:
                    seen.add(target)
                    paths.append([*path, target])
    return found


def test_the_core_has_no_import_circle() -> None:
    circles = cycles(import_graph())
    assert circles == [], "\n".join(" -> ".join(circle) for circle in circles)


def test_the_core_imports_no_observability() -> None:
    graph = import_graph()
    importers = {
        name: sorted(targets & OBSERVABILITY)
        for name, targets in graph.items()
        if name not in OBSERVABILITY and targets & OBSERVABILITY
    }
    assert importers == {}, "core modules that import observability: " + str(importers)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
    ],
    ids=["a line", "a circle"],
)
def test_the_circle_finder_finds_circles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(graph)[:1] == expected


def test_function_level_imports_count(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def later():\n    from app.core import metrics\n    return metrics\n")
    assert imported(module, {"app.core.metrics"}) == {"app.core.metrics"}
