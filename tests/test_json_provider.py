"""Responses are written by orjson, and say what Flask's own JSON would have said."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider

from app.core.json_provider import OrjsonProvider

pytestmark = pytest.mark.embedded_only


@dataclasses.dataclass
class Point:
    x: int
    y: int


VALUES = [
    {"b": 1, "a": [1, 2.5, None, True, False], "é": "naïve ☕"},
    {"errors": {"json": {0: ["Not a valid string."], 1: ["Missing."]}}},  # marshmallow list items
    {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "day": date(2026, 1, 2)},
    {"price": Decimal("9.99"), "id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"point": Point(1, 2)},
    {"huge": 2**70, "negative": -(2**64)},
]


@pytest.mark.parametrize("value", VALUES)
def test_a_response_holds_the_document_flask_would_write(app: Flask, value: object) -> None:
    flask_json = DefaultJSONProvider(app)
    with app.app_context():
        body = jsonify(value).get_data()

    assert json.loads(body) == json.loads(flask_json.dumps(value))
    assert body.endswith(b"}\n")


def test_keys_come_sorted_and_text_stays_utf8(app: Flask) -> None:
    with app.app_context():
        body = jsonify({"title": "Le Petit Prince", "author": "Saint-Exupéry", "id": 1}).get_data()

    assert body == '{"author":"Saint-Exupéry","id":1,"title":"Le Petit Prince"}\n'.encode()


def test_debug_responses_stay_indented_for_people_to_read() -> None:
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.debug = True
    with app.app_context():
        body = jsonify({"b": 1, "a": 2}).get_data(as_text=True)

    assert body == '{\n  "a": 2,\n  "b": 1\n}\n'
