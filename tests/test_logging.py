"""Each request has an id that callers see and log events carry; production logs are ECS JSON."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.core import project
from tests.conftest import make_settings
from tests.ecs import ecs_problems


def test_a_request_id_is_minted_and_returned(client: FlaskClient) -> None:
    first = client.get("/livez").headers["X-Request-ID"]
    second = client.get("/livez").headers["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_a_callers_request_id_is_kept(client: FlaskClient) -> None:
    response = client.get("/livez", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["X-Request-ID"] == "trace-42.a:b"


@pytest.mark.parametrize("unusable", ["x" * 129, "has space", "caf\u00e9", ""])
def test_an_unusable_request_id_is_replaced(client: FlaskClient, unusable: str) -> None:
    response = client.get("/livez", headers={"X-Request-ID": unusable})
    assert response.headers["X-Request-ID"] != unusable
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.no_shared_db
def test_json_logs_are_ecs_events_tagged_with_the_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(
        make_settings(database_url="sqlite://", log_format="json", app_release="rel-7")
    )
    capsys.readouterr()
    app.test_client().get("/missing", headers={"X-Request-ID": "req-json-1"})
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line must be JSON
    access = [e for e in events if e.get("log", {}).get("logger") == "app.access"]
    assert len(access) == 1
    event = access[0]
    assert event["http"]["request"]["id"] == "req-json-1"
    assert event["http"]["request"]["method"] == "GET"
    assert event["http"]["response"]["status_code"] == 404
    assert event["url"]["path"] == "/missing"
    assert event["event"]["duration"] > 0
    assert event["service"] == {"name": project.SLUG, "version": "rel-7", "environment": "test"}
    assert event["log.level"] == "info"
    assert "@timestamp" in event
    assert event["ecs.version"]


def test_the_ecs_check_refuses_unknown_fields_and_wrong_types() -> None:
    assert not ecs_problems({"message": "ok", "labels": {"book_id": "1"}, "event": {"duration": 5}})
    assert ecs_problems({"book": {"id": "1"}}) == [
        "book.id is not an ECS field (project fields go under labels.*)"
    ]
    assert ecs_problems({"labels": {"book_id": 1}}) == [
        "labels is {'book_id': 1}, not of ECS type object<keyword>"
    ]
    assert ecs_problems({"event.duration": "5"}) == ["event.duration is '5', not of ECS type long"]
