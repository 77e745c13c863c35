"""`flask scaffold resource <plural_name>`: a new resource in the books pattern, with its tests.

The code templates are in templates/ beside this module: Python with ``$placeholders``
(string.Template) for one name. The generated resource has one required ``name`` plus an
owner and timestamps; it lists in pages with search and sort, keeps ownership in its
queries, and refuses unknown fields, like books. Nothing existing is ever overwritten.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "templates"
# Lower-case words joined by single underscores, no digits (imports then sort alphabetically
# the same way for every tool), short enough that no generated line outgrows the line limit.
PLURAL_NAME = re.compile(r"[a-z]+(_[a-z]+)*")
MAX_LENGTH = 20
BLUEPRINTS_START = "BLUEPRINTS = (\n"


class ScaffoldError(Exception):
    """A name or a project the scaffold refuses; the message says why."""


@dataclass(frozen=True)
class Names:
    """Every spelling of a resource's name that the templates use."""

    plural: str  # book_loans: the package, table and blueprint
    singular: str  # book_loan
    model: str  # BookLoan
    words: str  # book loans
    word: str  # book loan
    url: str  # /api/v1/book-loans

    def placeholders(self) -> dict[str, str]:
        return {
            "plural": self.plural,
            "singular": self.singular,
            "Model": self.model,
            "words": self.words,
            "Words": self.words.capitalize(),
            "word": self.word,
            "url": self.url,
        }


def singular_of(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("sses", "xes", "zes", "ches", "shes")):
        return plural[:-2]
    return plural[:-1]


def names_for(plural: str, taken: set[str]) -> Names:
    """The names of a new resource, or a ScaffoldError saying what is wrong with ``plural``."""
    if not PLURAL_NAME.fullmatch(plural) or len(plural) > MAX_LENGTH:
        raise ScaffoldError(
            f"{plural!r} is not a resource name: use lower-case words joined by underscores "
            f"(letters only, at most {MAX_LENGTH} characters), like loans or book_loans."
        )
    if not plural.endswith("s") or plural.endswith("ss"):
        raise ScaffoldError(f"{plural!r} is not plural: name the collection, like loans.")
    if keyword.iskeyword(plural) or plural in taken:
        raise ScaffoldError(f"{plural!r} is already taken in this project; choose another name.")
    singular = singular_of(plural)
    words = plural.replace("_", " ")
    return Names(
        plural=plural,
        singular=singular,
        model="".join(part.capitalize() for part in singular.split("_")),
        words=words,
        word=singular.replace("_", " "),
        url=f"/api/v1/{plural.replace('_', '-')}",
    )


def render(template: Path, names: Names) -> str:
    text = Template(template.read_text()).substitute(names.placeholders())
    return sort_app_imports(text)


def sort_app_imports(text: str) -> str:
    """Order each run of one-line imports from this project (app, tests) as isort does: by
    module, so a name's place among the others is right whatever the name."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and is_project_import(lines[end]):
            end += 1
        if end > start:
            lines[start:end] = sorted(lines[start:end], key=lambda line: line.split()[1])
            start = end
        else:
            start += 1
    return "".join(lines)


def is_project_import(line: str) -> bool:
    return line.startswith(("from app.", "from app ", "from tests.", "from tests ")) and (
        "(" not in line
    )


def register_blueprint(factory: str, names: Names) -> str:
    """app/__init__.py with the new blueprint imported and added to BLUEPRINTS."""
    if BLUEPRINTS_START not in factory:
        raise ScaffoldError("app/__init__.py has no BLUEPRINTS tuple to add the blueprint to.")
    head, tail = factory.split(BLUEPRINTS_START, 1)
    body, rest = tail.split(")\n", 1)
    factory = f"{head}{BLUEPRINTS_START}{body}    {names.plural}_blp,\n)\n{rest}"
    new_import = f"from app.{names.plural}.views import blp as {names.plural}_blp\n"
    return sort_app_imports(
        factory.replace("from app import cli\n", f"from app import cli\n{new_import}")
    )


def scaffold_resource(root: Path, plural: str, taken: set[str]) -> list[Path]:
    """Write the resource ``plural`` into the project at ``root``; return the files written.

    ``taken`` holds the names in use (blueprints, tables). Everything is checked before the
    first file is written, so a refusal leaves the project as it was.
    """
    names = names_for(plural, taken)
    package, tests = root / "app" / plural, root / "tests" / plural
    for folder in (package, tests):
        if folder.exists():
            raise ScaffoldError(f"{folder.relative_to(root)} already exists; nothing was written.")
    factory_file = root / "app" / "__init__.py"
    factory = register_blueprint(factory_file.read_text(), names)
    planned = {
        destination / template.name.removesuffix(".tmpl"): render(template, names)
        for source, destination in (("app", package), ("tests", tests))
        for template in sorted((TEMPLATES / source).glob("*.py.tmpl"))
    }
    for path, text in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    factory_file.write_text(factory)
    return [*planned, factory_file]
