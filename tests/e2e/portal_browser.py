"""The portal in a real browser, shared by the browser tests: Debian's Chromium driven by
Playwright against the e2e server (tests/e2e/conftest.py), users and a fleet made in the server's
own database, screenshots in var/screenshots/ (RPS_SCREENSHOT_DIR), which CI keeps as artifacts."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rps_site.serving import run_manage
from tests.e2e.conftest import ROOT, RpsServer, unique
from tests.profiles.factories import proxy_body, wireless_body

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("RPS_SCREENSHOT_DIR", str(ROOT / "var" / "screenshots")))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FLEET_DEVICES, FLEET_RUNS = 240, 2400

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install -y chromium); CI installs it",
)

# Users made inside the server's environment (its own database), with a tenant and permissions.
MAKE_USER = """
import os
from django.contrib.auth.models import Permission, User
from rps_site.models import TenantMembership
user = User.objects.create_user(os.environ["PORTAL_USER"], password=os.environ["PORTAL_PASSWORD"], is_staff=True)
user.user_permissions.add(*Permission.objects.filter(codename__in=os.environ["PORTAL_PERMISSIONS"].split(",")))
TenantMembership.objects.create(user=user, tenant_id=os.environ["PORTAL_TENANT"])
"""
SEED_FLEET = """
import os
from tests.portal.fleet import seed_fleet
size = {"devices": int(os.environ["FLEET_DEVICES"]), "runs": int(os.environ["FLEET_RUNS"])}
seed_fleet(tenant_id=os.environ["PORTAL_TENANT"], seed=int(os.environ.get("FLEET_SEED", "14")), **size)
from devices.models import Device, ReprovisioningRequest
waiting = Device.objects.filter(tenant_id=os.environ["PORTAL_TENANT"]).order_by("id")[:2]
for attempts, device in enumerate(waiting, 1):
    ReprovisioningRequest.objects.create(
        device=device, tenant_id=device.tenant_id, attempts=attempts, client_address="192.0.2.7"
    )
"""


@dataclass
class Portal:
    server: RpsServer
    browser: Any
    admin_password: str

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.port}"

    def page(self, username: str = "admin", password: str | None = None, time_zone: str = "UTC") -> Any:
        """A logged-in page in a fresh context (cookies of its own), 1440 px wide, in `time_zone`."""
        context = self.browser.new_context(
            ignore_https_errors=True, viewport={"width": 1440, "height": 900}, timezone_id=time_zone
        )
        page = context.new_page()
        page.goto(f"{self.base}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password or self.admin_password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{self.base}/admin/")
        return page

    def user(self, tenant_id: str, *permissions: str) -> tuple[str, str]:
        username, password = unique("viewer"), "Portal-" + secrets.token_urlsafe(12)
        run_manage(
            {
                **self.server.environment,
                "PORTAL_USER": username,
                "PORTAL_PASSWORD": password,
                "PORTAL_PERMISSIONS": ",".join(permissions),
                "PORTAL_TENANT": tenant_id,
            },
            "shell",
            "-c",
            MAKE_USER,
        )
        return username, password


@contextmanager
def running_portal(rps_server: RpsServer) -> Iterator[Portal]:
    """Chromium and the quick start's admin on the e2e server (a module's `portal` fixture)."""
    from playwright.sync_api import sync_playwright

    password = "Portal-" + secrets.token_urlsafe(12)
    run_manage(
        {**rps_server.environment, "RPS_QUICKSTART_ADMIN_PASSWORD": password},
        "rps_quickstart_admin",
        "--password-from-env",
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield Portal(rps_server, browser, password)
        browser.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    page.evaluate("window.scrollTo(0, 0)")  # the sticky sidebar then sits at the top of the capture
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def profile_through_the_grouped_form(portal: Portal) -> str:
    """A CCM profile made in the portal's form: two Wi-Fi configs in the reverse of the order they
    were added, and a proxy config. Returns its name once the API serves it as built."""
    first, second, access_point = unique("wifi"), unique("wifi"), unique("proxy")
    with portal.server.api() as api:
        for name in (first, second):
            assert api.post("/wirelessconfigs", json=wireless_body(name)).status_code == 201
        assert api.post("/proxyconfigs", json=proxy_body(access_point)).status_code == 201
    name = unique("grouped")

    page = portal.page()
    page.goto(f"{portal.base}/admin/profiles/profile/add/")
    page.fill("#id_name", name)
    page.check("input[name=activation][value=ccmactivate]")
    page.check("#id_generate_random_password")
    assert page.is_disabled("#id_amt_password") and page.is_disabled("#id_mebx_password")
    page.fill("#id_tags", "portal, e2e")
    page.click("#wireless_links-group .add-row a")
    page.click("#wireless_links-group .add-row a")
    assert page.input_value("#id_wireless_links-0-priority") == "1"
    assert page.input_value("#id_wireless_links-1-priority") == "2"
    page.select_option("#id_wireless_links-0-wireless_config", label=second)
    page.fill("#id_wireless_links-0-priority", "2")
    page.select_option("#id_wireless_links-1-wireless_config", label=first)
    page.fill("#id_wireless_links-1-priority", "1")
    page.click("#proxy_links-group .add-row a")
    page.select_option("#id_proxy_links-0-proxy_config", label=access_point)
    page.select_option("#id_user_consent", "All")
    screenshot(page, "profile-form.png")
    page.click("input[name=_continue]")
    page.wait_for_url("**/admin/profiles/profile/*/change/")
    assert "was added successfully" in page.inner_text(".messagelist")
    assert page.input_value("#id_wireless_links-0-priority") == "1"
    screenshot(page, "profile-change.png")

    with portal.server.api() as api:
        profile = api.get(f"/profiles/{name}").json()
    assert [(item["priority"], item["profileName"]) for item in profile["wifiConfigs"]] == [(1, first), (2, second)]
    assert [(item["priority"], item["name"]) for item in profile["proxyConfigs"]] == [(1, access_point)]
    assert profile["activation"] == "ccmactivate" and profile["generateRandomPassword"] is True
    assert profile["tags"] == ["portal", "e2e"] and profile["dhcpEnabled"] is True
    return name
