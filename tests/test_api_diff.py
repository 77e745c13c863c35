"""A maintainer who breaks existing clients hears it from `make api-diff` (scripts/api_diff.py),
unless the break is declared, with the release it needs, in api-breaks.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.embedded_only

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "api_diff.py"
Document = dict[str, Any]


@pytest.fixture(autouse=True)
def optic() -> None:
    if not (ROOT / "node_modules" / ".bin" / "optic").exists():
        reason = "Optic is not installed: `make api-diff` (or `make lint`) installs it"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A repository whose last commit is a release at 0.2.0, with today's document."""
    (tmp_path / "openapi.json").write_text((ROOT / "openapi.json").read_text())
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.2.0"\n')
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        subprocess.run(  # noqa: S603 - fixed command line
            ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *command],  # noqa: S607
            cwd=tmp_path,
            check=True,
            capture_output=True,
            timeout=30,
        )
    return tmp_path


def change(repository: Path, edit: Callable[[Document], None]) -> None:
    path = repository / "openapi.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def api_diff(repository: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT)],
        cwd=repository,
        env={**os.environ, "N1_BASE": "HEAD"},  # the release is the last commit
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def break_clients(document: Document) -> None:
    schemas = document["components"]["schemas"]
    del document["paths"]["/api/v1/books/{book_id}"]["delete"]  # a removed operation
    document["paths"]["/api/v1/books"]["get"]["operationId"] = "books_index"  # a renamed one
    book = schemas["Book"]  # a removed response field
    del book["properties"]["isbn"]
    book["required"].remove("isbn")
    schemas["ExportRequest"]["properties"]["format"]["enum"].remove("csv")  # a removed value
    schemas["BookCreate"]["required"].append("description")  # a newly required field
    schemas["BookCreate"]["properties"]["published_year"]["type"] = "integer"  # narrowed


def test_a_change_that_breaks_clients_fails_and_names_each_break(release: Path) -> None:
    change(release, break_clients)
    result = api_diff(release)
    assert result.returncode == 1, result.stdout + result.stderr
    for said in (
        "DELETE /api/v1/books/{book_id}: removed",
        "'books_list' renamed to 'books_index'",
        "cannot remove response property 'isbn'",
        "cannot remove enum option 'csv'",
        "cannot make a request property required",
        "'published_year' not to be narrowed",
        "declare the break in api-breaks.toml",
    ):
        assert said in result.stdout, said


def test_an_unchanged_document_breaks_no_one(release: Path) -> None:
    result = api_diff(release)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in result.stdout


def test_an_added_field_and_operation_break_no_one(release: Path) -> None:
    def extend(document: Document) -> None:
        document["components"]["schemas"]["Book"]["properties"]["pages"] = {"type": "integer"}
        document["paths"]["/api/v1/books/{book_id}"]["put"] = dict(
            document["paths"]["/api/v1/books/{book_id}"]["patch"], operationId="books_replace"
        )

    change(release, extend)
    result = api_diff(release)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in result.stdout


def declare(repository: Path, version: str, operation: str) -> None:
    (repository / "api-breaks.toml").write_text(
        f'[[break]]\nversion = "{version}"\noperations = ["{operation}"]\nchanges = "It goes."\n'
    )
    (repository / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{version}"\n')


def test_a_declared_break_passes_only_with_its_operations_and_version_bump(
    release: Path,
) -> None:
    change(release, lambda document: document["paths"]["/api/v1/books/{book_id}"].pop("delete"))
    removed = "DELETE /api/v1/books/{book_id}"
    declare(release, "0.2.1", removed)
    not_bumped = api_diff(release)
    assert not_bumped.returncode == 1
    assert "not a breaking bump over 0.2.0" in not_bumped.stdout
    declare(release, "0.3.0", "PATCH /api/v1/books/{book_id}")
    elsewhere = api_diff(release)
    assert elsewhere.returncode == 1
    assert f"but not on {removed}" in elsewhere.stdout
    declare(release, "0.3.0", removed)
    accepted = api_diff(release)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "declared for 0.3.0" in accepted.stdout
