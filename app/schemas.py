"""Strict building blocks for wire formats, shared by every domain's schemas."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

# At least one visible character and no NUL, as a JSON Schema (ECMA and Python) regex.
VISIBLE_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


class TrimmedString(ma.fields.String):
    """Text with a visible character, stored without surrounding white space."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own class attribute
        "blank": "Must not be blank.",
        "nul": "Must not contain NUL characters.",
    }

    def __init__(self, **kwargs: Any) -> None:
        # Say it in the OpenAPI document too, so clients (and fuzzers) know what is refused:
        # blank text, and NUL, which PostgreSQL cannot store in a text column.
        kwargs["metadata"] = {
            "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$",
            **kwargs.get("metadata", {}),
        }
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        if not text.strip():
            raise self.make_error("blank")
        return text.strip()


class StrictBoolean(ma.fields.Boolean):
    """Only JSON true and false: no "yes", 1 or "false" strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(ma.fields.Integer):
    """Only JSON integers: no "5" strings, 5.0 floats or booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)
