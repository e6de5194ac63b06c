"""The pages a person opens first, served by the real server: `/` leads to the portal, and the API
docs load everything from this server (they work offline)."""

from __future__ import annotations

import re
import ssl
from urllib.parse import urljoin

import httpx

from tests.e2e.conftest import RpsServer

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def site(rps: RpsServer) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://127.0.0.1:{rps.port}",
        verify=ssl.create_default_context(cafile=str(rps.ca_file)),
        timeout=30,
    )


def test_the_root_redirects_to_the_portal(rps_server: RpsServer) -> None:
    with site(rps_server) as client:
        response = client.get("/")
        assert response.status_code == 302 and response.headers["location"] == "/admin/"
        login = client.get("/admin/", follow_redirects=True)
    assert login.status_code == 200 and str(login.url).endswith("/admin/login/?next=/admin/")


def test_api_docs_reference_only_local_assets_and_each_is_served(rps_server: RpsServer) -> None:
    with site(rps_server) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        assets = ASSET.findall(page.text)
        assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets), assets
        for asset in assets:
            absolute = urljoin(str(page.url), asset)
            assert absolute.startswith(f"https://127.0.0.1:{rps_server.port}/"), f"{asset} is not served here"
            assert client.get(absolute).status_code == 200, asset
        # The page's own script (inline or `?script`) points Swagger UI at this server's schema.
        script = page.text + "".join(client.get(urljoin(str(page.url), a)).text for a in assets if "script" in a)
        assert "/api/schema" in script
        assert "cdn" not in page.text.lower() and "unpkg" not in page.text.lower()
