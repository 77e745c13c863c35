"""The template names itself only where copier renders the name, so a new project has its own.

These tests belong to the template repository; projects made from it do not get them.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.core import project

pytestmark = pytest.mark.embedded_only

# Template-only paths (copier.yml's _exclude) and the rendering templates themselves.
TEMPLATE_ONLY = ("copier.yml", ".copier/", "tests/template/")


def tracked_files(root: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [name for name in listing.stdout.splitlines() if (root / name).is_file()]


def test_only_rendered_files_name_the_template(project_root: Path) -> None:
    files = tracked_files(project_root)
    naming = [
        name
        for name in files
        if "barah" in (project_root / name).read_text(errors="replace").lower()
        and not name.startswith(TEMPLATE_ONLY)
        and not name.endswith(".jinja")
    ]
    unrendered = [name for name in naming if f"{name}.jinja" not in files]
    assert unrendered == [], (
        "These files name the template but copier copies them as they are; take the name "
        "from app/core/project.py, or render the file (see copier.yml)."
    )


def test_the_rename_knows_the_template_by_its_current_names(project_root: Path) -> None:
    rename = (project_root / ".copier" / "rename.jinja").read_text()
    template = dict(re.findall(r'set template_(\w+) = "([^"]*)"', rename))
    assert template == {
        "name": project.NAME,
        "slug": project.SLUG,
        "description": project.DESCRIPTION,
        "mail_from": project.MAIL_FROM,
    }
    pyproject = tomllib.loads((project_root / "pyproject.toml").read_text())["project"]
    assert (pyproject["name"], pyproject["description"]) == (project.SLUG, project.DESCRIPTION)


def test_rendered_files_hold_no_template_markup(project_root: Path) -> None:
    """copier reads each rendered file as a template, so copier's own markup in it would break
    `copier copy` (Jinja's usual braces are fine: copier.yml spells its markup otherwise)."""
    files = tracked_files(project_root)
    rendered = [name.removesuffix(".jinja") for name in files if name.endswith(".jinja")]
    marked = [
        name
        for name in rendered
        if (project_root / name).is_file()
        and any(mark in (project_root / name).read_text() for mark in ("[[=", "[[%", "[[#"))
    ]
    assert marked == []
