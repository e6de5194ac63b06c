"""A device's page: its state, its runs with each step's true outcome and duration, times to the
second in the admin's zone, and only the actions the user may take (each asking first)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from devices.models import Device
from devices.services import device_secrets, runs
from devices.services.runs import DeviceReport, VerifiedChange
from rps_site.models import TenantMembership
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore

pytestmark = pytest.mark.django_db
STARTED = datetime(2026, 11, 28, 6, 0, 0, tzinfo=UTC)


def at(second: float) -> datetime:
    return STARTED.replace(second=int(second), microsecond=int(second % 1 * 1_000_000))


def device_with_history(tenant_id: str) -> Device:
    guid = str(uuid.uuid4())
    ok = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate", profile_name="ccm-branch").run
    ok.started_at = STARTED
    ok.save(update_fields=["started_at"])
    runs.run_finish(
        run=ok,
        succeeded=True,
        change=VerifiedChange(
            report=DeviceReport(hostname="vpro-0042"), status="activated", control_mode=1, bind_tenant_id=tenant_id
        ),
        steps=[
            ("IPS_HostBasedSetupService.Setup", "success", "", at(2.5)),
            ("register with MPS", "skipped", "MPS is not configured (RPS_MPS_URL is empty)", at(2.6)),
            ("configure TLS", "not_applicable", "TLS not part of this configuration", at(14)),
        ],
    )
    failed = runs.run_start(guid=guid, tenant_id=tenant_id, action="maintenance").run
    runs.run_finish(
        run=failed,
        succeeded=False,
        failure_cause="AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch: ReturnValue 1",
        steps=[("AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch", "failure", "ReturnValue 1")],
    )
    return Device.objects.get(guid=guid)


def portal_user(tenant_id: str, *codenames: str) -> Client:
    user = User.objects.create_user(username=f"u{uuid.uuid4().hex[:8]}", password="unused-Pw1!x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="devices", codename__in=codenames))
    TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = Client()
    client.force_login(user)
    client.cookies["rps_tz"] = "Asia/Tokyo"
    return client


def page_of(client: Client, device: Device) -> str:
    response = client.get(f"/admin/devices/device/{device.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_shows_state_steps_with_true_outcomes_and_durations_in_the_admins_zone() -> None:
    device = device_with_history("acme")
    page = page_of(portal_user("acme", "view_device"), device)
    assert "vpro-0042" in page and "Client control mode" in page and "Activated" in page
    steps = re.findall(r'<tr class="portal-step-(\w+)" data-position="(\d)"', page)
    assert steps == [("failure", "1"), ("success", "1"), ("skipped", "2"), ("not_applicable", "3")]
    assert ">Skipped<" in page and ">Not applicable<" in page
    # 06:00:00 UTC is 15:00:00 in Tokyo; each step took from the one before it.
    assert "started 2026-11-28 15:00:00 JST" in page
    assert ">15:00:02<" in page and ">2.5 s<" in page and ">0.1 s<" in page and ">11 s<" in page
    assert "Failed at <code>AMT_TimeSynchronizationService.SetHighAccuracyTimeSynch</code>" in page
    # A read-only user is offered no action.
    assert "data-device-action" not in page


def test_another_tenants_admin_does_not_reach_the_page() -> None:
    device = device_with_history("acme")
    response = portal_user("globex", "view_device", "change_device", "delete_device").get(
        f"/admin/devices/device/{device.pk}/change/"
    )
    assert response.status_code == 302 and device.guid not in response.content.decode()


def test_purge_is_offered_with_its_permission_asks_first_then_forgets_the_device(vault: SecretStore) -> None:
    device = device_with_history("acme")
    device_secrets.device_secret_create(guid=device.guid, values={"AMT_PASSWORD": Secret("Stored-Pass1!")})
    admin = portal_user("acme", "view_device", "change_device", "delete_device")
    page = page_of(admin, device)
    assert 'data-device-action="purge"' in page and 'data-device-action="move_to_tenant"' in page

    selection = {"action": "purge", "_selected_action": [str(device.pk)]}
    asked = admin.post("/admin/devices/device/", selection)
    assert asked.status_code == 200 and "cannot be undone" in asked.content.decode()
    assert Device.objects.filter(pk=device.pk).exists()

    done = admin.post("/admin/devices/device/", {**selection, "confirm": "yes"})
    assert done.status_code == 302
    assert not Device.objects.filter(pk=device.pk).exists()
    assert device_secrets.device_secret_read(guid=device.guid) is None


def test_without_the_permission_the_action_is_refused_even_when_posted() -> None:
    device = device_with_history("acme")
    viewer = portal_user("acme", "view_device", "change_device")
    assert 'data-device-action="purge"' not in page_of(viewer, device)
    viewer.post("/admin/devices/device/", {"action": "purge", "_selected_action": [str(device.pk)], "confirm": "yes"})
    assert Device.objects.filter(pk=device.pk).exists()
