"""An operator scrapes METRICS_PORT and sees requests by route template, never by raw path.

These tests read what a scrape of this process would return (the metrics server answers
with the same registry); tests/process/test_observability.py scrapes real servers with a
real Prometheus. prometheus-client is imported only once the app has set up its folder, as
in a real process, so nothing here imports it at collection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app
from app.core import project
from app.core.extensions import db
from tests.conftest import free_port, make_settings

pytestmark = pytest.mark.no_shared_db


@pytest.fixture(scope="module")
def metered_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    database = tmp_path_factory.mktemp("metrics") / "metrics.db"
    app = create_app(make_settings(database_url=f"sqlite:///{database}", metrics_port=free_port()))
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(metered_app: Flask) -> FlaskClient:
    return metered_app.test_client()


def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Sample (name, labels) -> value, as a scrape of METRICS_PORT returns them."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from app.core import metrics

    text = generate_latest(metrics.registry()).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(route: str, status: str, method: str = "GET") -> float:
    labels = frozenset(
        {
            ("http_request_method", method),
            ("http_route", route),
            ("http_response_status_code", status),
        }
    )
    return scrape().get(("http_server_request_duration_seconds_count", labels), 0.0)


def test_requests_are_counted_by_route_template_not_by_path(client: FlaskClient) -> None:
    route = "/api/v1/books/<book_id>"
    before = requests_counted(route, "401")
    for book_id in (1, 2, 3):
        assert client.get(f"/api/v1/books/{book_id}").status_code == 401
    assert requests_counted(route, "401") == before + 3
    paths = {dict(labels).get("http_route") for _, labels in scrape()}
    assert not any(path and "/books/1" in path for path in paths)


def test_a_path_no_route_matches_has_an_empty_route(client: FlaskClient) -> None:
    before = requests_counted("", "404")
    assert client.get("/no/such/page/12345").status_code == 404
    assert requests_counted("", "404") == before + 1


def test_an_invented_method_is_counted_as_other(client: FlaskClient) -> None:
    # A method no rule accepts matches no rule either.
    before = requests_counted("", "405", method="_OTHER")
    assert client.open("/livez", method="BREW").status_code == 405
    assert requests_counted("", "405", method="_OTHER") == before + 1


def test_metrics_are_not_served_on_the_public_port(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_no_request_is_in_flight_between_requests(client: FlaskClient) -> None:
    client.get("/livez")
    assert scrape()[("http_server_active_requests", frozenset())] == 0


def test_checked_out_connections_are_counted(metered_app: Flask) -> None:
    used = ("db_client_connection_count", frozenset({("db_client_connection_state", "used")}))
    with metered_app.app_context():
        assert scrape()[used] == 0
        with db.engine.connect(), db.engine.connect():
            assert scrape()[used] == 2
        assert scrape()[used] == 0


def test_the_build_info_carries_the_release(metered_app: Flask) -> None:
    release = metered_app.config["RELEASE"]
    build = [labels for (name, labels) in scrape() if name == f"{project.METRIC_PREFIX}_build_info"]
    assert [dict(labels)["release"] for labels in build] == [release]
