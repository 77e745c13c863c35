"""A developer adds a resource with `flask scaffold resource`, and gets code they can keep.

These tests generate into a scratch copy of the project's factory; tests/template/ generates
into a whole project and runs its migration, tests and lint.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from app import scaffold

FILES = {
    "app/loans/__init__.py",
    "app/loans/models.py",
    "app/loans/schemas.py",
    "app/loans/service.py",
    "app/loans/views.py",
    "tests/loans/__init__.py",
    "tests/loans/conftest.py",
    "tests/loans/test_crud.py",
    "tests/loans/test_listing.py",
    "tests/loans/test_retries_and_edits.py",
    "tests/loans/test_ownership.py",
    "tests/loans/test_validation.py",
}


def scratch_project(root: Path, project_root: Path) -> Path:
    """A project folder with this project's code, settings and test package."""
    shutil.copytree(project_root / "app", root / "app", ignore=shutil.ignore_patterns("__py*"))
    (root / "tests").mkdir()
    for name in ("tests/__init__.py", "tests/conftest.py", "pyproject.toml"):
        shutil.copy(project_root / name, root / name)
    return root


@pytest.fixture
def scratch(tmp_path: Path, project_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch project where the command writes."""
    monkeypatch.setattr("app.cli.PROJECT_ROOT", tmp_path)
    return scratch_project(tmp_path, project_root)


def scaffold_cli(app: Flask, *args: str) -> tuple[int, str]:
    runner: FlaskCliRunner = app.test_cli_runner()
    result = runner.invoke(args=["scaffold", "resource", *args])
    return result.exit_code, result.output


def written(root: Path) -> set[str]:
    """The files in the loans folders of app/ and tests/."""
    return {
        str(path.relative_to(root))
        for folder in ("app/loans", "tests/loans")
        for path in (root / folder).glob("*.py")
    }


def test_a_resource_is_generated_registered_and_the_next_steps_printed(
    app: Flask, scratch: Path
) -> None:
    code, output = scaffold_cli(app, "loans")
    assert code == 0, output
    assert written(scratch) == FILES
    factory = (scratch / "app" / "__init__.py").read_text()
    assert "from app.loans.views import blp as loans_blp\n" in factory
    assert "    loans_blp,\n)\n" in factory
    for step in ('make revision m="add loans"', "make migrate", "make openapi", "make client"):
        assert step in output
    views = (scratch / "app" / "loans" / "views.py").read_text()
    assert 'url_prefix="/api/v1/loans"' in views
    assert "class Loan(" in (scratch / "app" / "loans" / "models.py").read_text()


def test_nothing_is_overwritten(app: Flask, scratch: Path) -> None:
    (scratch / "tests" / "loans").mkdir()
    (scratch / "tests" / "loans" / "test_mine.py").write_text("# mine\n")
    factory = (scratch / "app" / "__init__.py").read_text()
    code, output = scaffold_cli(app, "loans")
    assert code == 1
    assert "tests/loans already exists; nothing was written" in output
    assert written(scratch) == {"tests/loans/test_mine.py"}
    assert (scratch / "tests" / "loans" / "test_mine.py").read_text() == "# mine\n"
    assert (scratch / "app" / "__init__.py").read_text() == factory


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Loans", "lower-case words"),
        ("book-loans", "lower-case words"),
        ("loans2", "lower-case words"),
        ("_loans", "lower-case words"),
        ("a" * 20 + "s", "at most 20"),
        ("loan", "not plural"),
        ("address", "not plural"),
        ("books", "already taken"),
        ("users", "already taken"),
        ("tasks", "already taken"),
    ],
)
def test_a_bad_or_taken_name_is_refused(app: Flask, scratch: Path, name: str, reason: str) -> None:
    factory = (scratch / "app" / "__init__.py").read_text()
    before = sorted(scratch.rglob("*"))
    code, output = scaffold_cli(app, name)
    assert code == 1
    assert reason in output
    assert sorted(scratch.rglob("*")) == before
    assert (scratch / "app" / "__init__.py").read_text() == factory


@pytest.mark.parametrize(
    ("plural", "singular", "model", "url"),
    [
        ("loans", "loan", "Loan", "/api/v1/loans"),
        ("book_loans", "book_loan", "BookLoan", "/api/v1/book-loans"),
        ("categories", "category", "Category", "/api/v1/categories"),
        ("boxes", "box", "Box", "/api/v1/boxes"),
        ("matches", "match", "Match", "/api/v1/matches"),
    ],
)
def test_names_are_derived_from_the_plural(
    plural: str, singular: str, model: str, url: str
) -> None:
    names = scaffold.names_for(plural, taken=set())
    assert (names.singular, names.model, names.url) == (singular, model, url)


@pytest.mark.parametrize("plural", ["loans", "accounts", "zebra_crossings", "abcdefgh_ijklmnopqrs"])
def test_the_generated_code_passes_ruff_as_it_is(
    tmp_path: Path, project_root: Path, plural: str
) -> None:
    """Whatever the name (first or last in import order, longest allowed), lint is clean."""
    files = scaffold.scaffold_resource(scratch_project(tmp_path, project_root), plural, set())
    paths = [str(path) for path in files]
    for command in (["check", "--no-cache", *paths], ["format", "--no-cache", "--check", *paths]):
        ruff = subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "ruff", *command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr
