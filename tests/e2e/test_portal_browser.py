"""The admin portal in a real browser (Debian's Chromium driven by Playwright) over the server's
HTTPS: the dashboard on a seeded fleet, a profile built in the grouped form with ordered Wi-Fi and
proxy configs, a read-only user, and a CIRA config whose password stays write-only.

Screenshots of the dashboard and the forms land in var/screenshots/ (RPS_SCREENSHOT_DIR), which
CI keeps as artifacts."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator

import psycopg
import pytest

from rps_site.serving import run_manage
from rps_site.vault import cira_config_path
from tests.e2e.conftest import RpsServer, unique
from tests.e2e.portal_browser import (
    FLEET_DEVICES,
    FLEET_RUNS,
    SEED_FLEET,
    Portal,
    needs_chromium,
    profile_through_the_grouped_form,
    running_portal,
    screenshot,
)
from tests.profiles.factories import certificate, pfx_base64, rsa_key

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def portal(rps_server: RpsServer) -> Iterator[Portal]:
    with running_portal(rps_server) as running:
        yield running


def expiring_pfx(days: int) -> str:
    root_key, leaf_key = rsa_key(2048, 0), rsa_key(2048, 1)
    root = certificate(subject_cn="Portal Root CA", key=root_key, ca=True, amt_usage=False)
    leaf = certificate(
        subject_cn="vpro.example.com",
        key=leaf_key,
        issuer_cn="Portal Root CA",
        issuer_key=root_key,
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=12),
    )
    return pfx_base64(key=leaf_key, certificates=[leaf, root])


def test_dashboard_on_a_seeded_fleet(portal: Portal) -> None:
    tenant = unique("fleet")
    run_manage(
        {
            **portal.server.environment,
            "PORTAL_TENANT": tenant,
            "FLEET_DEVICES": str(FLEET_DEVICES),
            "FLEET_RUNS": str(FLEET_RUNS),
        },
        "shell",
        "-c",
        SEED_FLEET,
    )
    with portal.server.api(tenant) as api:
        body = {
            "profileName": unique("corp"),
            "domainSuffix": f"{tenant}.example.com",
            "provisioningCert": expiring_pfx(12),
            "provisioningCertStorageFormat": "string",
            "provisioningCertPassword": "P@ssw0rd-pfx",
        }
        assert api.post("/domains", json=body).status_code == 201
    username, password = portal.user(tenant, "view_device", "view_domain", "view_profile", "view_reprovisioningrequest")

    page = portal.page(username, password, time_zone="Asia/Tokyo")
    page.wait_for_selector("#portal-health[data-loaded=true]")
    assert "Asia/Tokyo" in page.inner_text("#user-tools"), "the login page told the server the browser's zone"
    assert page.inner_text("[data-figure=devices]") == str(FLEET_DEVICES)
    week, day = (int(page.inner_text(f"[data-figure=activations-{window}]")) for window in ("week", "day"))
    assert week > day > 0
    assert page.inner_text("[data-figure=certificates]") == "1"
    assert "expires in 12 days" in page.inner_text("body")
    assert page.inner_text("[data-figure=waiting-requests]") == "2"
    failures = page.locator(".portal-failures tbody tr")
    assert failures.count() == 8
    assert page.locator("[data-component=Vault].portal-health-ok").count() == 1
    assert page.locator("[data-component=Database].portal-health-ok").count() == 1
    assert page.locator("[data-component=MPS].portal-health-ok").count() == 1
    screenshot(page, "dashboard.png")

    cause = failures.first.locator(".portal-cause").inner_text()
    failures.first.locator("a").first.click()
    page.wait_for_url("**/admin/devices/provisioningrun/*/change/")
    assert cause.rstrip("…") in page.inner_text("body")
    assert " JST" in page.inner_text("#content-main"), "times in the admin's zone"

    # The runs table fits a 1400 px window: long names and causes wrap instead of running off it.
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{portal.base}/admin/devices/provisioningrun/")
    overflow = page.evaluate("(el => el.scrollWidth - el.clientWidth)(document.querySelector('#changelist .results'))")
    assert overflow <= 0
    screenshot(page, "runs-1400.png", full_page=False)

    # The superuser looks at the same tenant through the tenant switch.
    admin = portal.page()
    admin.goto(f"{portal.base}/admin/?tenant={tenant}")
    assert admin.inner_text("[data-figure=devices]") == str(FLEET_DEVICES)


def test_profile_with_ordered_wifi_and_proxy_configs(portal: Portal) -> None:
    profile_through_the_grouped_form(portal)


def test_a_read_only_user_sees_but_cannot_change(portal: Portal) -> None:
    tenant = unique("ro")
    name = unique("readonly")
    with portal.server.api(tenant) as api:
        body = {
            "profileName": name,
            "activation": "ccmactivate",
            "generateRandomPassword": True,
            "dhcpEnabled": True,
            "tags": ["kept"],
        }
        assert api.post("/profiles", json=body).status_code == 201
    username, password = portal.user(tenant, "view_profile")

    page = portal.page(username, password)
    page.goto(f"{portal.base}/admin/profiles/profile/")
    assert name in page.inner_text("#result_list")
    assert page.locator("a.addlink").count() == 0
    page.click(f"text={name}")
    assert "View AMT profile" in page.inner_text("h1")
    assert page.locator("input[name=_save]").count() == 0 and page.locator("form input[type=password]").count() == 0
    shown = page.inner_text("#content-main")
    assert "AMT: generated per device" in shown and "Client control mode (CCM)" in shown and "DHCP" in shown
    screenshot(page, "profile-read-only.png")

    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    refused = page.request.post(
        page.url, form={"csrfmiddlewaretoken": token, "name": name, "tags": "changed"}, headers={"Referer": page.url}
    )
    assert refused.status == 403
    assert page.request.get(f"{portal.base}/admin/profiles/profile/add/").status == 403
    with portal.server.api(tenant) as api:
        assert api.get(f"/profiles/{name}").json()["tags"] == ["kept"]


def test_cira_password_stays_write_only(portal: Portal) -> None:
    mps_password = "MpsCanary" + secrets.token_hex(6)
    name = unique("portalcira")
    page = portal.page()
    page.goto(f"{portal.base}/admin/profiles/ciraconfig/add/")
    page.fill("#id_name", name)
    page.check("input[name=server_address_format][value='3']")
    page.fill("#id_mps_server_address", "192.168.8.50")
    page.fill("#id_mps_port", "4433")
    page.fill("#id_common_name", "192.168.8.50")
    page.fill("#id_username", "mpsadmin")
    page.fill("#id_mps_root_certificate", "rootcert")
    page.fill("#id_mps_password", mps_password)
    screenshot(page, "cira-form.png")
    page.click("input[name=_save]")
    page.wait_for_url(f"{portal.base}/admin/profiles/ciraconfig/")
    assert name in page.content()

    page.click(f"text={name}")
    assert mps_password not in page.content()
    assert page.input_value("#id_mps_password") == ""

    with psycopg.connect(portal.server.database_url.replace("postgres://", "postgresql://")) as connection:
        admin_log = connection.execute("select object_repr, change_message from django_admin_log").fetchall()
    assert any(name in row[0] for row in admin_log), "the portal's own log records the addition"
    assert mps_password not in repr(admin_log)

    stored = portal.server.vault_store().read(cira_config_path("", name))
    assert stored is not None and stored.values["MPS_PASSWORD"].reveal() == mps_password
    assert mps_password not in portal.server.log_text()
