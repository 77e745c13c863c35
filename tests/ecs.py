"""The Elastic Common Schema as a test sees it: which fields exist and what type each has.

``tests/ecs_fields.tsv`` is generated from npm's ``@elastic/ecs`` by ``make ecs-fields``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

FIELDS_FILE = Path(__file__).with_name("ecs_fields.tsv")

TEXT_TYPES = {"keyword", "constant_keyword", "wildcard", "match_only_text", "text", "ip", "date"}
INTEGER_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}
NUMBER_TYPES = {"float", "double", "scaled_float", "half_float"}
OBJECT_TYPES = {"object", "flattened", "nested"}


@cache
def ecs_fields() -> dict[str, str]:
    """Field name -> type, as written in the generated file (``keyword[]``, ``object<keyword>``)."""
    fields = {}
    for line in FIELDS_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, field_type = line.split("\t")
            fields[name] = field_type
    return fields


def ecs_problems(event: Mapping[str, Any]) -> list[str]:
    """Each field of a log event that ECS does not define, or whose value has the wrong type."""
    return [problem for name, value in fields_of(event) for problem in field_problems(name, value)]


def fields_of(event: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) of every field, whether the event nests it or writes it dotted;
    an object-typed field (such as ``labels``) is one field."""
    for key, value in event.items():
        name = f"{prefix}{key}"
        declared = ecs_fields().get(name, "")
        if isinstance(value, Mapping) and not declared.startswith(tuple(OBJECT_TYPES)):
            yield from fields_of(value, f"{name}.")
        else:
            yield name, value


def field_problems(name: str, value: Any) -> list[str]:
    declared = ecs_fields().get(name)
    if declared is None:
        return [f"{name} is not an ECS field (project fields go under labels.*)"]
    field_type, is_array = declared.removesuffix("[]"), declared.endswith("[]")
    values = value if is_array and isinstance(value, list) else [value]
    if not all(has_type(item, field_type) for item in values):
        return [f"{name} is {value!r}, not of ECS type {declared}"]
    return []


def has_type(value: Any, field_type: str) -> bool:
    base, _, inner = field_type.partition("<")
    if base in OBJECT_TYPES:
        if not isinstance(value, Mapping):
            return False
        return not inner or all(has_type(item, inner.rstrip(">")) for item in value.values())
    if base in TEXT_TYPES:
        return isinstance(value, str)
    if base in INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if base in NUMBER_TYPES:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base == "boolean":
        return isinstance(value, bool)
    return False  # a type this check does not know yet: teach it rather than let it pass
