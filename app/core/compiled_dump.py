"""``Schema.dump``, compiled: a schema's fields turned once into one plain function.

For every value it writes, marshmallow decides again where to read it, which key to write and
how to format it, through several calls: on a page of 100 books that is most of the request's
Python time outside the database driver. Those decisions depend only on the schema, so
``compile_dump`` takes them once and writes a function that reads each attribute and formats
it directly (``out["id"] = int(value)``).

The output is ``schema.dump``'s, always. A field becomes a direct expression only when its
class formats values with marshmallow's own code for integers, strings, dates and times,
nested schemas or lists; any other field is called as marshmallow calls it. Schemas with dump
hooks or their own ``get_attribute``, and objects read by key (mappings), keep marshmallow's
``dump``. tests/test_compiled_dump.py compares both over generated objects for every
field type the project uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type

DumpOne = Callable[[Any], dict[str, Any]]
MISSING = ma.missing
fields = ma.fields


def compile_dump(schema: ma.Schema) -> DumpOne:
    """A function that dumps one object exactly as ``schema.dump(obj, many=False)`` does."""

    def marshmallow_dump(obj: Any) -> dict[str, Any]:
        return ma.Schema.dump(schema, obj, many=False)  # type: ignore[no-any-return]

    if not compilable(schema):
        return marshmallow_dump
    names: dict[str, Any] = {
        "MISSING": MISSING,
        "marshmallow_dump": marshmallow_dump,
        "get_attribute": schema.get_attribute,
    }
    lines = [
        "def dump(obj):",
        "    if hasattr(obj, '__getitem__'):",  # marshmallow tries obj[key] first: its dump
        "        return marshmallow_dump(obj)",
        "    out = {}",
    ]
    for index, (name, field) in enumerate(schema.dump_fields.items()):
        field_name = f"field_{index}"
        names[field_name] = field
        key = field.data_key if field.data_key is not None else name
        attribute = field.attribute if field.attribute is not None else name
        if not reads_attribute(field) or "." in attribute:
            lines += [
                f"    value = {field_name}.serialize({name!r}, obj, accessor=get_attribute)",
                f"    if value is not MISSING: out[{key!r}] = value",
            ]
            continue
        lines.append(f"    value = getattr(obj, {attribute!r}, MISSING)")
        if field.dump_default is not MISSING:
            default = field.dump_default
            names[f"default_{index}"] = default
            lines.append(
                f"    if value is MISSING: value = default_{index}"
                + ("()" if callable(default) else "")
            )
        expression = formatted(field, "value", f"{attribute!r}", names, str(index))
        lines.append(f"    if value is not MISSING: out[{key!r}] = {expression}")
    lines.append("    return out")
    # Named after the schema, so tracebacks and profiles say whose dump ran.
    code = compile("\n".join(lines), f"<compiled_dump {type(schema).__name__}>", "exec")
    exec(code, names)  # noqa: S102 - source built above from the schema's own fields
    return names["dump"]  # type: ignore[no-any-return]


def compilable(schema: ma.Schema) -> bool:
    hooks = schema._hooks  # marshmallow's registry of @pre_dump/@post_dump methods
    return (
        not hooks[PRE_DUMP]
        and not hooks[POST_DUMP]
        and type(schema).get_attribute is ma.Schema.get_attribute
        and schema.dict_class is dict
    )


def reads_attribute(field: fields.Field[Any]) -> bool:
    """Whether marshmallow reads this field's value from the object (Method, Function: no)."""
    return bool(field._CHECK_ATTRIBUTE) and all(
        getattr(type(field), method) is getattr(fields.Field, method)
        for method in ("serialize", "get_value")
    )


def formatted(
    field: fields.Field[Any], value: str, attr: str, names: dict[str, Any], tag: str
) -> str:
    """A Python expression giving what ``field._serialize(value, ...)`` returns."""
    names[f"field_{tag}"] = field
    serialize: Any = type(field)._serialize
    if_none = f"None if {value} is None else"
    if isinstance(field, fields.Number) and serialize is fields.Number._serialize:
        if not field.as_string:
            names[f"number_{tag}"] = field._format_num
            return f"{if_none} number_{tag}({value})"
    elif isinstance(field, fields.String) and serialize is fields.String._serialize:
        names["ensure_text_type"] = ensure_text_type
        return f"{value} if {value}.__class__ is str else {if_none} ensure_text_type({value})"
    elif (
        isinstance(field, fields.DateTime | fields.Date | fields.Time)
        and serialize is fields.DateTime._serialize  # all three's, from their common base
    ):
        function = field.SERIALIZATION_FUNCS.get(field.format or field.DEFAULT_FORMAT)
        if function is not None:
            names[f"temporal_{tag}"] = function
            return f"{if_none} temporal_{tag}({value})"
    elif isinstance(field, fields.Nested) and serialize is fields.Nested._serialize:
        nested = field.schema
        if compilable(nested):
            names[f"nested_{tag}"] = compile_dump(nested)
            if nested.many or field.many:
                return f"{if_none} [nested_{tag}(each) for each in {value}]"
            return f"{if_none} nested_{tag}({value})"
    elif isinstance(field, fields.List) and serialize is fields.List._serialize:
        each = f"each_{tag}"
        inner = formatted(field.inner, each, attr, names, f"{tag}_inner")
        return f"{if_none} [{inner} for {each} in {value}]"
    return f"field_{tag}._serialize({value}, {attr}, obj)"


class CompiledDumpSchema(ma.Schema):
    """marshmallow's Schema, whose dump runs the function ``compile_dump`` made for it."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        many = self.many if many is None else bool(many)
        dump_one = self.__dict__.get("_dump_one")
        if dump_one is None:
            dump_one = self.__dict__["_dump_one"] = compile_dump(self)
        if not many:
            return dump_one(obj)
        if obj is None:
            return super().dump(obj, many=True)
        return [dump_one(each) for each in obj]
