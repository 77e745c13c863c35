"""A team starts a service from the template and later brings in the template's new versions.

Everything runs offline against temporary git repositories: copier reads the template from a
local path, and the generated project's checks reuse this suite's virtualenv.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.template.conftest import copier, git, make, run, slow, template_repository, uv

pytestmark = [slow, pytest.mark.embedded_only]

NAME = "Shelf Service"
SLUG = "shelf-service"
DESCRIPTION = "Shelves and the books on them."
MAIL_FROM = "Shelf Service <shelf@example.org>"
# Files that may still name the template: the README says where the project came from, and
# the answers file records the template's address.
MAY_NAME_THE_TEMPLATE = {"README.md", ".copier-answers.yml"}


def answers(*pairs: tuple[str, str]) -> list[str]:
    return [arg for key, value in pairs for arg in ("--data", f"{key}={value}")]


def new_project(template: Path, dest: Path, ref: str) -> Path:
    copier(
        "copy",
        "--defaults",
        f"--vcs-ref={ref}",
        *answers(("project_name", NAME), ("description", DESCRIPTION), ("mail_from", MAIL_FROM)),
        template,
        dest,
        cwd=dest.parent,
    )
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    git("add", "--all", cwd=dest)
    git("commit", "--quiet", f"--message=Start {NAME}", cwd=dest)
    return dest


@pytest.fixture(scope="module")
def shelf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project generated from the template as it is on disk, committed in git."""
    template = template_repository(tmp_path_factory.mktemp("template"))
    git("tag", "v1", cwd=template)
    return new_project(template, tmp_path_factory.mktemp("projects") / SLUG, "v1")


def test_a_new_project_is_named_throughout(shelf: Path) -> None:
    files = git("ls-files", cwd=shelf).splitlines()
    naming = [
        name
        for name in files
        if "barah" in (shelf / name).read_text(errors="replace").lower()
        and name not in MAY_NAME_THE_TEMPLATE
    ]
    assert naming == []
    template_only = (".copier/", "tests/template/", "copier.yml")
    assert not [name for name in files if name.endswith(".jinja") or name.startswith(template_only)]
    assert ".copier-answers.yml" in files

    assert (shelf / "README.md").read_text().startswith(f"# {NAME}\n\n{DESCRIPTION}\n")
    pyproject = tomllib.loads((shelf / "pyproject.toml").read_text())["project"]
    assert (pyproject["name"], pyproject["description"]) == (SLUG, DESCRIPTION)
    assert json.loads((shelf / "openapi.json").read_text())["info"]["title"] == NAME
    identity = (shelf / "app" / "core" / "project.py").read_text()
    for constant, value in (("NAME", NAME), ("SLUG", SLUG), ("MAIL_FROM", MAIL_FROM)):
        assert f'{constant} = "{value}"' in identity
    assert f"\nname: {SLUG}\n" in (shelf / "compose.yaml").read_text()
    assert f'org.opencontainers.image.title="{SLUG}"' in (shelf / "Dockerfile").read_text()
    assert f"MAIL_FROM={MAIL_FROM}\n" in (shelf / ".env.example").read_text()
    recorded = (shelf / ".copier-answers.yml").read_text()
    assert "_commit: v1" in recorded
    assert f"project_name: {NAME}" in recorded
    # The lock names the project too, and still matches pyproject.toml.
    run(uv(), "lock", "--check", "--offline", cwd=shelf, timeout=120)


# What the template's name reaches (logs, mail, docs, settings), and one resource end to end.
FAST_SUBSET = [
    "tests/test_logging.py",
    "tests/test_background.py",
    "tests/test_docs.py",
    "tests/test_settings.py",
    "tests/test_contract.py::test_the_committed_document_is_current",
    "tests/test_migrations.py",
    "tests/books/test_crud.py",
    "tests/test_kubernetes.py",
]


def test_a_new_project_grows_a_resource_and_passes_its_own_checks(shelf: Path) -> None:
    """The README's path: scaffold, revision, migrate, openapi; then tests and lint pass."""
    scaffolded = run(
        uv(),
        "run",
        "--frozen",
        "--no-sync",
        "flask",
        "scaffold",
        "resource",
        "loans",
        cwd=shelf,
        FLASK_APP="app",
        UV_PROJECT_ENVIRONMENT=sys.prefix,
    )
    assert 'make revision m="add loans"' in scaffolded
    make("revision", "m=add loans", cwd=shelf)
    assert len(list((shelf / "migrations" / "versions").glob("*_add_loans.py"))) == 1
    make("migrate", cwd=shelf)
    make("openapi", cwd=shelf)
    assert "/api/v1/loans/{item_id}" in json.loads((shelf / "openapi.json").read_text())["paths"]
    output = run(
        uv(),
        "run",
        "--frozen",
        "--no-sync",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "tests/loans",
        *FAST_SUBSET,
        cwd=shelf,
        UV_PROJECT_ENVIRONMENT=sys.prefix,
    )
    assert re.search(r"\d+ passed", output)
    assert "failed" not in output
    make("lint", cwd=shelf)


def test_an_update_brings_template_changes_and_keeps_local_edits(tmp_path: Path) -> None:
    template = template_repository(tmp_path / "template")
    git("tag", "v1", cwd=template)
    shelf = new_project(template, tmp_path / SLUG, "v1")

    # The template moves on: a code change, and a change to a line the project also edits.
    pagination = template / "app" / "core" / "pagination.py"
    pagination.write_text(
        pagination.read_text().replace("MAX_PAGE_SIZE = 100", "MAX_PAGE_SIZE = 250")
    )
    edit_line(template / "Procfile", "web:", "web: gunicorn --config gunicorn.conf.py --preload")
    git("commit", "--quiet", "--all", "--message=Larger pages", cwd=template)
    git("tag", "v2", cwd=template)

    # Meanwhile the project edits the same module elsewhere, and that same Procfile line.
    own = shelf / "app" / "core" / "pagination.py"
    own.write_text(own.read_text().replace("Page-number pagination:", "Pagination by page number:"))
    edit_line(shelf / "Procfile", "web:", "web: gunicorn --config gunicorn.conf.py --reload")
    git("commit", "--quiet", "--all", "--message=Our own limits", cwd=shelf)

    copier("update", "--defaults", "--vcs-ref=v2", cwd=shelf)

    merged = own.read_text()
    assert "MAX_PAGE_SIZE = 250" in merged  # the template's change arrived
    assert merged.startswith('"""Pagination by page number:')  # the project's edit survived
    procfile = (shelf / "Procfile").read_text()
    # The same line changed on both sides: conflict markers, for a person to pick.
    conflict = re.search(r"<<<<<<< .*\n(.*)\n=======\n(.*)\n>>>>>>> .*", procfile)
    assert conflict is not None, procfile
    assert {"--reload", "--preload"} == {conflict[1].split()[-1], conflict[2].split()[-1]}
    assert "_commit: v2" in (shelf / ".copier-answers.yml").read_text()
    assert f"project_name: {NAME}" in (shelf / ".copier-answers.yml").read_text()


def edit_line(path: Path, starts_with: str, replacement: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(starts_with))
    lines[index] = replacement + "\n"
    path.write_text("".join(lines))
