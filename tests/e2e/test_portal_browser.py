"""The admin portal in a real browser (Chromium driven by Playwright) over the server's HTTPS:
log in, add a CIRA config with its MPS password, and see that the password is stored in Vault
and shown nowhere in the portal."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest

from rps_site.serving import run_manage
from rps_site.vault import cira_config_path
from tests.e2e.conftest import RpsServer, unique

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("RPS_SCREENSHOT_DIR", "/tmp"))

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install -y chromium); CI installs it",
)


def test_portal_login_and_write_only_secret(rps_server: RpsServer) -> None:
    from playwright.sync_api import sync_playwright

    password = "Portal-" + secrets.token_urlsafe(12)
    run_manage(
        {**rps_server.environment, "RPS_QUICKSTART_ADMIN_PASSWORD": password},
        "rps_quickstart_admin",
        "--password-from-env",
    )
    mps_password = "MpsCanary" + secrets.token_hex(6)
    name = unique("portalcira")
    base = f"https://127.0.0.1:{rps_server.port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(ignore_https_errors=True)
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        assert "Provisioning administration" in page.content()

        page.goto(f"{base}/admin/profiles/ciraconfig/add/")
        page.fill("#id_name", name)
        page.fill("#id_mps_server_address", "192.168.8.50")
        page.fill("#id_mps_port", "4433")
        page.fill("#id_username", "mpsadmin")
        page.fill("#id_common_name", "192.168.8.50")
        page.fill("#id_server_address_format", "3")
        page.fill("#id_auth_method", "2")
        page.fill("#id_mps_root_certificate", "rootcert")
        page.fill("#id_mps_password", mps_password)
        page.click("input[name=_save]")
        page.wait_for_url(f"{base}/admin/profiles/ciraconfig/")
        assert name in page.content()
        page.screenshot(path=str(SCREENSHOTS / "cira-list.png"), full_page=True)

        page.click(f"text={name}")
        change_page = page.content()
        assert mps_password not in change_page
        assert page.input_value("#id_mps_password") == ""
        page.screenshot(path=str(SCREENSHOTS / "cira-change.png"), full_page=True)
        browser.close()

    with psycopg.connect(rps_server.database_url.replace("postgres://", "postgresql://")) as connection:
        admin_log = connection.execute("select object_repr, change_message from django_admin_log").fetchall()
    assert any(name in row[0] for row in admin_log), "the portal's own log records the addition"
    assert mps_password not in repr(admin_log)

    stored = rps_server.vault_store().read(cira_config_path("", name))
    assert stored is not None and stored.values["MPS_PASSWORD"].reveal() == mps_password
    assert mps_password not in rps_server.log_text()
