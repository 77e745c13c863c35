"""Strict building blocks for wire formats, shared by every domain's schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import marshmallow as ma

from app.core.compiled_dump import CompiledDumpSchema

# What str.strip() removes, spelled out: \s means less in JSON Schema's (ECMA-262) regular
# expressions than in Python's (not \x1c-\x1f), and a document must mean one thing to all.
WHITE_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Patterns that document the rules below (JSON Schema patterns are unanchored): no NUL,
# and at least one visible character.
NO_NUL = r"^[^\x00]*$"
VISIBLE_TEXT = rf"^[^\x00]*[^\x00{WHITE_SPACE}][^\x00]*$"


class Text(ma.fields.String):
    """A string every database can store: PostgreSQL's text cannot hold NUL characters."""

    default_error_messages = {"nul": "Must not contain NUL characters."}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": NO_NUL, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        # A length limit counts the text as sent, as the document's maxLength says, even where
        # a subclass stores it trimmed or normalised (JSON Schema cannot say "after trimming");
        # marshmallow checks it again, harmlessly, on the value returned.
        for validator in self.validators:
            if isinstance(validator, ma.validate.Length):
                validator(text)
        return text


class TrimmedString(Text):
    """Text with a visible character, stored without surrounding white space."""

    default_error_messages = {"blank": "Must not be blank."}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        # Say it in the OpenAPI document too, so clients (and fuzzers) know what is refused:
        # blank text, and NUL, which PostgreSQL cannot store in a text column.
        kwargs["metadata"] = {"pattern": VISIBLE_TEXT, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        return text


class SortField(ma.fields.String):
    """One of ``keys``, or -key for descending order. The document names each choice
    (TITLE, TITLE_DESC), so generated clients need not number those that are not identifiers."""

    def __init__(self, keys: Sequence[str], **kwargs: Any) -> None:
        choices = [
            (f"{sign}{key}", f"{key.upper()}{sign and '_DESC'}")
            for key in keys
            for sign in ("", "-")
        ]
        kwargs["metadata"] = {
            "description": "A field, or -field for descending order",
            "x-enum-varnames": [name for _, name in choices],
            **kwargs.get("metadata", {}),
        }
        super().__init__(validate=ma.validate.OneOf([value for value, _ in choices]), **kwargs)


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true and false: no "yes", 1 or "false" strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(ma.fields.Integer):
    """Only JSON integers: 5, and 5.0, which JSON Schema (so the document) counts as the same
    integer; never "5" strings, 5.5 or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictSchema(CompiledDumpSchema):
    """Unknown fields are refused (marshmallow's default, stated so the document says it too),
    and a read-only field sent on input is named as such rather than as unknown: one the
    schema of what the server returns (``returned_as``) has and this input schema lacks."""

    returned_as: ClassVar[type[ma.Schema] | None] = None

    class Meta:
        unknown = ma.RAISE

    def handle_error(self, error: ma.ValidationError, data: Any, **kwargs: Any) -> None:
        if isinstance(error.messages, dict) and self.returned_as is not None:
            returned = self.returned_as().fields
            for name in returned.keys() - self.fields.keys():
                key = returned[name].data_key or name
                if key in error.messages:
                    error.messages[key] = ["Read-only field: set by the server."]
