"""The device registry, its API and the per-device secrets, against real PostgreSQL and OpenBao."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from devices.models import Device
from devices.services import device_secrets, runs
from devices.services.runs import DeviceReport, VerifiedChange
from rps_site.authentication import issue_token
from rps_site.sensitive import Secret
from rps_site.vault import InvalidDeviceGuid
from tests.mps_recorder import running_mps_recorder
from tests.portal_sessions import role_session


def new_guid() -> str:
    return str(uuid.uuid4())


def bind(guid: str, *, tenant_id: str) -> Device:
    """A device whose activation under `tenant_id` succeeded."""
    run = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate").run
    runs.run_finish(
        run=run,
        succeeded=True,
        change=VerifiedChange(report=DeviceReport(), status="activated", bind_tenant_id=tenant_id),
    )
    return Device.objects.get(guid=guid.lower())


def client_for(tenant_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(tenant_id=tenant_id)}")
    return client


def test_first_secret_is_create_only_and_rotation_goes_through_pending(vault) -> None:  # type: ignore[no-untyped-def]
    guid = new_guid()
    device_secrets.device_secret_create(
        guid=guid, values={"AMT_PASSWORD": Secret("Old-Pass1!"), "MEBX_PASSWORD": Secret("Mebx-1!a")}
    )
    with pytest.raises(Exception, match="already exists"):
        device_secrets.device_secret_create(guid=guid, values={"AMT_PASSWORD": Secret("x")})
    device_secrets.device_password_stage(guid=guid, amt_password=Secret("New-Pass2!"))
    staged = device_secrets.device_secret_read(guid=guid)
    assert staged is not None
    assert staged.values["AMT_PASSWORD"].reveal() == "Old-Pass1!", "the working password stays until confirmed"
    assert staged.values["PENDING_AMT_PASSWORD"].reveal() == "New-Pass2!"
    device_secrets.device_password_promote(guid=guid)
    promoted = device_secrets.device_secret_read(guid=guid)
    assert promoted is not None
    assert promoted.values["AMT_PASSWORD"].reveal() == "New-Pass2!"
    assert "PENDING_AMT_PASSWORD" not in promoted.values
    assert promoted.values["MEBX_PASSWORD"].reveal() == "Mebx-1!a"
    with pytest.raises(device_secrets.NoPendingPassword):
        device_secrets.device_password_promote(guid=guid)
    device_secrets.device_secret_destroy(guid=guid)
    assert device_secrets.device_secret_read(guid=guid) is None


def test_hostile_guids_are_refused_before_vault(vault) -> None:  # type: ignore[no-untyped-def]
    for hostile in ("../profiles/x", "a" * 36, ""):
        with pytest.raises(InvalidDeviceGuid):
            device_secrets.device_secret_create(guid=hostile, values={"AMT_PASSWORD": Secret("x")})


@pytest.mark.django_db
def test_runs_and_steps_are_recorded_and_served_per_tenant(vault) -> None:  # type: ignore[no-untyped-def]
    guid = new_guid().upper()
    run = runs.run_start(
        guid=guid, tenant_id="acme", action="activate", profile_name="p1", report=DeviceReport(hostname="pc1")
    ).run
    runs.run_finish(
        run=run,
        succeeded=True,
        status_message="Connected",
        change=VerifiedChange(
            report=DeviceReport(hostname="pc1"), status="activated", control_mode=1, bind_tenant_id="acme"
        ),
        steps=[
            ("Setup", "success", "", datetime(2026, 11, 28, 6, 0, 1, tzinfo=UTC)),
            ("register with MPS", "failure", "MPS answered 500", datetime(2026, 11, 28, 6, 0, 3, tzinfo=UTC)),
        ],
    )

    device = Device.objects.get(guid=guid.lower())
    assert device.status == "activated" and device.activated_at is not None and device.control_mode == 1

    listing = client_for("acme").get("/api/v1/admin/devices?$count=true")
    assert listing.status_code == 200
    assert listing.json()["totalCount"] == 1
    assert listing.json()["data"][0]["guid"] == guid.lower()
    detail = client_for("acme").get(f"/api/v1/admin/devices/{guid}").json()
    assert [step["name"] for step in detail["runs"][0]["steps"]] == ["Setup", "register with MPS"]
    assert detail["runs"][0]["steps"][1]["detail"] == "MPS answered 500"
    # Each step keeps when it ended, though the run's steps are written together at its end.
    assert [step["recordedAt"][:19] for step in detail["runs"][0]["steps"]] == [
        "2026-11-28T06:00:01",
        "2026-11-28T06:00:03",
    ]

    assert client_for("other").get(f"/api/v1/admin/devices/{guid}").status_code == 404
    assert client_for("other").get("/api/v1/admin/devices").json() == []


@pytest.mark.django_db
def test_purge_removes_row_secret_and_mps_record(vault, settings) -> None:  # type: ignore[no-untyped-def]
    guid = new_guid()
    bind(guid, tenant_id="")
    device_secrets.device_secret_create(guid=guid, values={"AMT_PASSWORD": Secret("P-ass-1!x")})
    with running_mps_recorder() as mps:
        settings.MPS_URL = mps.url
        assert client_for("tenant-b").delete(f"/api/v1/admin/devices/{guid}").status_code == 404
        response = client_for("").delete(f"/api/v1/admin/devices/{guid}")
        assert response.status_code == 204
        assert [(call.method, call.path) for call in mps.requests] == [("DELETE", f"/api/v1/devices/{guid}?tenantId=")]
        assert mps.requests[0].headers["Authorization"].startswith("Bearer ")
    assert not Device.objects.filter(guid=guid).exists()
    assert device_secrets.device_secret_read(guid=guid) is None


@pytest.mark.django_db
def test_listing_rejects_bad_paging() -> None:
    response = client_for("").get("/api/v1/admin/devices?$top=-1")
    assert response.status_code == 400
    assert response.json()["errors"][0]["msg"] == "The number of items to return should be a positive integer"


@pytest.mark.django_db
def test_device_api_and_portal_pages_follow_the_device_permissions(vault, settings) -> None:  # type: ignore[no-untyped-def]
    """SECURITY check 24 for devices: view_device to list and read, delete_device to purge."""
    guid = new_guid()
    run = runs.run_start(
        guid=guid, tenant_id="", action="activate", profile_name="p1", report=DeviceReport(hostname="pc-perm")
    ).run
    runs.run_finish(
        run=run,
        succeeded=True,
        status_message="ok",
        change=VerifiedChange(
            report=DeviceReport(hostname="pc-perm"), status="activated", control_mode=1, bind_tenant_id=""
        ),
        steps=[],
    )
    item, portal_list = f"/api/v1/admin/devices/{guid}", "/admin/devices/device/"
    portal_item = f"/admin/devices/device/{Device.objects.get(guid=guid).pk}/change/"
    portal_run = f"/admin/devices/provisioningrun/{run.pk}/change/"

    nothing = role_session(Device, "nothing")
    for response in (nothing.get("/api/v1/admin/devices"), nothing.get(item), nothing.delete(item)):
        assert response.status_code == 403
    assert nothing.get(item).json()["message"] == "This request needs the devices.view_device permission."
    for page in (portal_list, portal_item, portal_run):
        assert nothing.get(page).status_code == 403, page
    assert b"pc-perm" not in nothing.get("/admin/").content

    viewer = role_session(Device, "view")
    assert [entry["guid"] for entry in viewer.get("/api/v1/admin/devices").json()] == [guid]
    assert viewer.get(item).json()["runs"][0]["profileName"] == "p1"
    refused = viewer.delete(item)
    assert refused.status_code == 403
    assert refused.json()["message"] == "This request needs the devices.delete_device permission."
    for page in (portal_list, portal_item, portal_run):
        assert viewer.get(page).status_code == 200, page
    assert Device.objects.filter(guid=guid).exists()

    with running_mps_recorder() as mps:
        settings.MPS_URL = mps.url
        assert role_session(Device, "full", tenant_id="other").delete(item).status_code == 404
        assert role_session(Device, "full").delete(item).status_code == 204
    assert not Device.objects.filter(guid=guid).exists()
