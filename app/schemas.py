"""Strict building blocks for wire formats, shared by every domain's schemas."""

from __future__ import annotations

from typing import Any

import marshmallow as ma


class TrimmedString(ma.fields.String):
    """Text with a visible character, stored without surrounding white space."""

    default_error_messages = {"blank": "Must not be blank."}  # noqa: RUF012 - marshmallow's

    def __init__(self, **kwargs: Any) -> None:
        # Say it in the OpenAPI document too, so clients (and fuzzers) know "  " is refused.
        kwargs["metadata"] = {"pattern": r"\S", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        return text


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
