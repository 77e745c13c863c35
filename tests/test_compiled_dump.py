"""Responses are written by a compiled dump, and say exactly what marshmallow's dump would.

Every response schema of the project, and schemas using the features the compiled dump hands
back to marshmallow, dump generated objects (every field type, None, missing attributes,
nested pages) to the same values of the same types, in the same key order.
"""

from __future__ import annotations

import enum
import traceback
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from types import SimpleNamespace
from typing import Any
from unittest import mock

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import app.auth.schemas
import app.books.schemas
import app.jobs.schemas
from app.core.compiled_dump import CompiledDumpSchema
from app.core.schemas import StrictSchema

pytestmark = pytest.mark.embedded_only


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class WithHooksAndMethods(CompiledDumpSchema):
    """What the compiled dump leaves to marshmallow: hooks, methods, dotted attributes."""

    id = ma.fields.Integer()
    label = ma.fields.Method("make_label")
    owner_name = ma.fields.String(attribute="owner.name")
    colour = ma.fields.Enum(Colour)
    count = ma.fields.Integer(as_string=True, dump_default=0)
    ratio = ma.fields.Float(data_key="r")
    stamp = ma.fields.DateTime(format="%Y-%m-%d")

    def make_label(self, obj: Any) -> str:
        return f"#{getattr(obj, 'id', '?')}"

    @ma.post_dump
    def mark(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "marked": True}


class WithNestedHookSchema(StrictSchema):
    children = ma.fields.List(ma.fields.Nested(WithHooksAndMethods))
    single = ma.fields.Nested(WithHooksAndMethods, allow_none=True)


def schemas(cls: type[ma.Schema] = CompiledDumpSchema) -> Iterator[type[ma.Schema]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from schemas(subclass)


RESPONSE_SCHEMAS = sorted(set(schemas()), key=lambda cls: cls.__qualname__)
datetimes = st.datetimes().flatmap(
    lambda moment: st.sampled_from(
        [moment, moment.replace(tzinfo=UTC), moment.replace(tzinfo=timezone(timedelta(hours=5)))]
    )
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def values_for(field: ma.fields.Field[Any], depth: int) -> st.SearchStrategy[Any]:
    """Values of the type the field dumps, the odd ones included, and None."""
    match field:
        case ma.fields.Nested():
            nested = objects_for(field.schema, depth + 1)
            many = field.many or field.schema.many
            return st.none() | (st.lists(nested, max_size=3) if many else nested)
        case ma.fields.List():
            return st.none() | st.lists(values_for(field.inner, depth + 1), max_size=4)
        case ma.fields.Enum():
            return st.none() | st.sampled_from(list(field.enum.__members__.values()))
        case ma.fields.Boolean():
            return st.none() | st.booleans() | st.sampled_from([0, 1, "yes", "false"])
        case ma.fields.Integer():
            return st.none() | st.integers() | st.booleans() | st.sampled_from(["7", 3.0])
        case ma.fields.Float():
            return st.none() | st.floats(allow_nan=False) | st.integers()
        case ma.fields.DateTime():
            return st.none() | datetimes
        case ma.fields.String():
            return st.none() | st.text() | st.sampled_from([b"bytes", 42])
        case _:  # Raw, Dict, Method, ...
            return json_values


def objects_for(schema: ma.Schema, depth: int = 0) -> st.SearchStrategy[Any]:
    """Objects with an attribute per dumped field, some of them left out."""
    if depth > 2:
        return st.none()
    attributes = {}
    for name, field in schema.dump_fields.items():
        attribute = (field.attribute or name).split(".")[0]
        attributes[attribute] = values_for(field, depth)
    if "owner" in attributes:
        attributes["owner"] = st.builds(SimpleNamespace, name=st.text())
    present = st.fixed_dictionaries({}, optional=attributes)
    return present.map(lambda values: SimpleNamespace(**values))


def marshmallow_dump(schema: ma.Schema, obj: Any, many: bool) -> Any:
    """The reference: marshmallow's own dump, for the schema and every schema nested in it."""
    with mock.patch.object(CompiledDumpSchema, "dump", ma.Schema.dump):
        return schema.dump(obj, many=many)


@pytest.mark.parametrize(
    "schema_class",
    [*RESPONSE_SCHEMAS, WithHooksAndMethods, WithNestedHookSchema],
    ids=lambda cls: cls.__qualname__,
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_the_compiled_dump_writes_what_marshmallow_writes(
    schema_class: type[ma.Schema], data: st.DataObject
) -> None:
    schema = schema_class()
    many = data.draw(st.booleans(), label="many")
    one = objects_for(schema)
    obj = data.draw(st.lists(one, max_size=3) if many else one, label="obj")

    assert repr(schema.dump(obj, many=many)) == repr(marshmallow_dump(schema, obj, many))


def test_a_mapping_is_read_by_key_as_marshmallow_reads_it() -> None:
    schema = app.books.schemas.BookSchema()
    row = {"id": 1, "title": "Dune", "author": "Frank Herbert"}

    assert schema.dump(row) == marshmallow_dump(schema, row, False)
    assert schema.dump(row) == {"id": 1, "title": "Dune", "author": "Frank Herbert"}


def test_the_project_response_schemas_are_compiled() -> None:
    names = {cls.__qualname__ for cls in RESPONSE_SCHEMAS}
    assert {"BookSchema", "BookPageSchema", "UserSchema", "UserPageSchema", "JobSchema"} <= names


def test_a_failing_compiled_dump_names_its_schema_in_the_traceback() -> None:
    class Broken:
        @property
        def title(self) -> str:
            raise LookupError("no title")

    schema = app.books.schemas.BookSchema()
    with pytest.raises(LookupError) as raised:
        schema.dump(Broken())

    files = [frame.filename for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert "<compiled_dump BookSchema>" in files
