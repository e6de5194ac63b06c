"""The portal's site: sections in provisioning order with one Access section, and times to the
second in the admin's own time zone (a cookie that is only ever a known zone name)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.test import Client

from devices.models import Device, ProvisioningRun
from rps_site.authentication import issue_token

FINISHED = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username="root", password="unused-Pw1!x"))
    return client


def sections(page: str) -> list[str]:
    return re.findall(r'<div class="app-([a-z_]+) module', page)


def test_auth_and_lockouts_are_one_access_section(admin_client: Client) -> None:
    page = admin_client.get("/admin/profiles/profile/").content.decode()
    assert sections(page) == ["devices", "profiles", "access", "audit"]
    access = page[page.index('class="app-access module') :]
    names = re.findall(r'<th scope="row" id="access-[a-z]+">\s*<a href="[^"]+"[^>]*>([^<]+)</a>', access)
    assert names[:2] == ["Users", "Groups"] and "Access attempts" in names and "Access logs" in names
    assert "Authentication and Authorization" not in page and ">Axes<" not in page
    for url in ("/admin/access/", "/admin/auth/", "/admin/axes/"):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert sections(response.content.decode()) == ["access"]


def test_access_needs_a_login(db: None) -> None:
    response = Client().get("/admin/access/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.fixture
def finished_run(db: None) -> ProvisioningRun:
    device = Device.objects.create(guid="0f2c6a52-8a52-4d25-9a9f-3ef1b3a5c8e1", tenant_id="", hostname="tz-host")
    return ProvisioningRun.objects.create(device=device, action="activate", outcome="success", finished_at=FINISHED)


@pytest.mark.parametrize(
    ("cookie", "shown"),
    [
        ("Asia/Tokyo", "2026-03-14 18:26:53 JST"),
        ("America/New_York", "2026-03-14 05:26:53 EDT"),
        (None, "2026-03-14 09:26:53 UTC"),
        ("../../../../etc/passwd", "2026-03-14 09:26:53 UTC"),
        ("Not/A_Zone", "2026-03-14 09:26:53 UTC"),
        ("", "2026-03-14 09:26:53 UTC"),
    ],
)
def test_times_to_the_second_in_the_admins_zone(
    admin_client: Client, finished_run: ProvisioningRun, cookie: str | None, shown: str
) -> None:
    if cookie is not None:
        admin_client.cookies["rps_tz"] = cookie
    page = admin_client.get(f"/admin/devices/provisioningrun/{finished_run.pk}/change/").content.decode()
    assert shown in page


def test_the_zone_cookie_never_changes_the_api(db: None, finished_run: ProvisioningRun) -> None:
    api = Client(headers={"Authorization": f"Bearer {issue_token(tenant_id='')}"})
    plain = api.get("/api/v1/admin/devices").content
    api.cookies["rps_tz"] = "Asia/Tokyo"
    assert api.get("/api/v1/admin/devices").content == plain
