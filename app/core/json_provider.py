"""Flask's JSON, written by orjson: the same documents in a tenth of the time."""

from __future__ import annotations

from typing import Any

import orjson
from flask import current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response

# Keys sorted and datetimes handed to Flask's default (an HTTP date), as Flask's own provider
# does; non-string keys (marshmallow numbers list items in its error messages) written as
# strings, as the json module does.
OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class OrjsonProvider(DefaultJSONProvider):
    """What Flask's provider writes, apart from non-ASCII text, which stays UTF-8 rather than
    being escaped. Anything orjson refuses (an integer beyond 64 bits) goes to Flask's."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:  # formatting options (indent, ...) are the json module's
            return super().dumps(obj, **kwargs)
        return self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented, for people to read
        body = self._encode(self._prepare_response_obj(args, kwargs)) + b"\n"
        return current_app.response_class(body, mimetype=self.mimetype)

    def _encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self.default, option=OPTIONS)
        except TypeError:
            return super().dumps(obj, separators=(",", ":")).encode()
