"""The API describes itself, and its docs page works with no network beyond the service."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

pytestmark = pytest.mark.embedded_only


def test_openapi_document_lists_the_health_endpoints(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    assert spec is not None
    assert spec["openapi"].startswith("3.")
    assert {"/livez", "/readyz", "/version"} <= spec["paths"].keys()
    readyz = spec["paths"]["/readyz"]["get"]["responses"]
    assert {"200", "503"} <= readyz.keys()


def test_docs_page_loads_every_asset_from_the_service(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/docs/assets/"), f"{asset} is not served by the app"
        with client.get(asset) as response:
            assert response.status_code == 200
    assert '"persistAuthorization": true' in html
