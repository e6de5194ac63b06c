"""What admins decide about the device channel, through the API and the portal, against real
PostgreSQL, OpenBao and a recording MPS: who sees an unbound device, releasing a re-provisioning
request, moving a device (and MPS refusing to follow), the enrollment allow-list."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from rest_framework.test import APIClient

from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest
from devices.services import admin_actions, device_secrets, runs
from devices.services.device_secrets import SecretClaimRefused
from devices.services.runs import DeviceReport, VerifiedChange
from rps_site.authentication import issue_token
from rps_site.models import TenantMembership
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore, device_path
from tests.mps_recorder import MpsRecorder, running_mps_recorder

pytestmark = pytest.mark.django_db


def api(tenant_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(tenant_id=tenant_id)}")
    return client


def new_guid() -> str:
    return str(uuid.uuid4())


def attempt(guid: str, tenant_id: str, *, hostname: str = "pc") -> ProvisioningRun:
    """A refused attempt: recorded on the device's own history, nothing verified."""
    run = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate", report=DeviceReport(hostname=hostname)).run
    runs.run_finish(run=run, succeeded=False, failure_cause="resolve plan: refused")
    return run


def activated(guid: str, tenant_id: str, *, password: str = "Stored-Pass1!") -> Device:
    run = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate").run
    device_secrets.device_secret_first_use(
        run=run, guid=guid, values={"AMT_PASSWORD": Secret(password)}, keep_existing=False
    )
    runs.run_finish(
        run=run,
        succeeded=True,
        change=VerifiedChange(
            report=DeviceReport(hostname="owned"),
            status="activated",
            control_mode=1,
            bind_tenant_id=tenant_id,
            credential="confirmed",
        ),
    )
    return Device.objects.get(guid=guid)


def reset_and_claimed_again(guid: str, tenant_id: str) -> None:
    run = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate").run
    with pytest.raises(SecretClaimRefused):
        device_secrets.device_secret_first_use(
            run=run, guid=guid, values={"AMT_PASSWORD": Secret("New-Pass1!")}, keep_existing=False
        )
    runs.run_finish(run=run, succeeded=False)


@pytest.fixture
def mps(settings) -> Iterator[MpsRecorder]:  # type: ignore[no-untyped-def]
    with running_mps_recorder() as recorder:
        settings.MPS_URL = recorder.url
        yield recorder


def test_an_unbound_device_shows_each_tenant_only_the_attempts_that_named_it(vault: SecretStore) -> None:
    guid = new_guid()
    attempt(guid, "acme", hostname="first")
    attempt(guid, "", hostname="second")
    device = Device.objects.get(guid=guid)
    assert device.tenant_id is None and device.hostname == "first", "an unverified claim never rewrites the row"

    for tenant, hostname in (("acme", "first"), ("", "second")):
        listing = api(tenant).get("/api/v1/admin/devices").json()
        assert [(item["guid"], item["tenantId"]) for item in listing] == [(guid, None)]
        history = api(tenant).get(f"/api/v1/admin/devices/{guid}").json()
        assert [run["reportedHostname"] for run in history["runs"]] == [hostname]
        assert api(tenant).delete(f"/api/v1/admin/devices/{guid}").status_code == 404, "only a bound device is purged"
    assert api("other").get(f"/api/v1/admin/devices/{guid}").status_code == 404


def test_release_lets_the_next_activation_replace_the_secret_and_keeps_the_old_version(vault: SecretStore) -> None:
    guid = new_guid()
    activated(guid, "acme")
    reset_and_claimed_again(guid, "acme")
    reset_and_claimed_again(guid, "acme")
    request = ReprovisioningRequest.objects.get(device__guid=guid)
    assert (request.state, request.attempts, request.tenant_id) == ("open", 2, "acme")

    assert api("other").post(f"/api/v1/admin/devices/{guid}/release").status_code == 404
    listing = api("acme").get("/api/v1/admin/devices/reprovisioning-requests?state=open").json()
    assert [item["guid"] for item in listing] == [guid]
    assert api("acme").get("/api/v1/admin/devices/reprovisioning-requests?state=bogus").status_code == 400
    released = api("acme").post(f"/api/v1/admin/devices/{guid}/release")
    assert released.status_code == 200 and released.json()["releasedSecretVersion"] == 1
    assert Device.objects.get(guid=guid).credential == "released"

    run = runs.run_start(guid=guid, tenant_id="acme", action="activate").run
    written = device_secrets.device_secret_first_use(
        run=run, guid=guid, values={"AMT_PASSWORD": Secret("New-Pass1!")}, keep_existing=False
    )
    assert written.version == 2 and written.reason.startswith("released for re-provisioning by ")
    assert written.released
    assert runs.device_activation_confirmed(
        run=run, tenant_id="acme", control_mode=1, profile_name="p", completes_release=written.released
    )
    assert ReprovisioningRequest.objects.get(device__guid=guid).state == "completed"
    stored = vault.read(device_path(guid))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == "New-Pass1!"


def test_a_move_mps_cannot_follow_changes_nothing(vault: SecretStore, mps: MpsRecorder) -> None:
    guid = new_guid()
    activated(guid, "")
    mps.records[guid] = {"guid": guid, "tenantId": "", "hostname": "owned", "mpsusername": "cira-user"}
    mps.status_by_method["DELETE"] = 500
    refused = api("").post(f"/api/v1/admin/devices/{guid}/move", {"tenantId": "acme"}, format="json")
    assert refused.status_code == 503 and "not moved" in refused.json()["message"]
    assert Device.objects.get(guid=guid).tenant_id == ""
    assert mps.record(guid) == {"guid": guid, "tenantId": "", "hostname": "owned", "mpsusername": "cira-user"}

    del mps.status_by_method["DELETE"]
    moved = api("").post(f"/api/v1/admin/devices/{guid}/move", {"tenantId": "acme"}, format="json")
    assert moved.status_code == 200
    assert mps.record(guid) == {"guid": guid, "tenantId": "acme", "hostname": "owned", "mpsusername": "cira-user"}


def test_enrollment_api_validates_and_is_per_tenant(vault: SecretStore) -> None:
    guid = new_guid()
    assert api("acme").post("/api/v1/admin/devices/enrollment", "not a list", format="json").status_code == 400
    too_many = api("acme").post("/api/v1/admin/devices/enrollment", [guid] * 5_001, format="json")
    assert too_many.status_code == 400
    assert api("acme").post("/api/v1/admin/devices/enrollment", [guid, guid], format="json").json() == {
        "added": 1,
        "alreadyEnrolled": 0,
    }
    assert api("other").delete(f"/api/v1/admin/devices/enrollment/{guid}").status_code == 404
    assert api("acme").delete(f"/api/v1/admin/devices/enrollment/{guid.upper()}").status_code == 204
    assert not EnrolledDevice.objects.exists()


def test_enrollment_gate_is_per_tenant_and_writes_nothing_for_a_stranger(settings, vault: SecretStore) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_ENROLLMENT_REQUIRED = ["vetted"]
    stranger = new_guid()
    with pytest.raises(runs.DeviceNotEnrolled):
        runs.run_start(guid=stranger, tenant_id="vetted", action="activate")
    assert not Device.objects.filter(guid=stranger).exists()
    assert runs.run_start(guid=stranger, tenant_id="acme", action="activate").enrolled
    settings.DEVICE_ENROLLMENT_REQUIRED = ["*"]
    # Known now (unbound), so the attempt is recorded on its history, but it is not enrolled.
    started = runs.run_start(guid=stranger, tenant_id="acme", action="activate")
    assert not started.enrolled
    admin_actions.enrollment_add(tenant_id="acme", guids=[stranger], enrolled_by="test")
    assert runs.run_start(guid=stranger, tenant_id="acme", action="activate").enrolled


# --- the portal ------------------------------------------------------------------------------------


def portal(*, tenant_id: str | None, permissions: tuple[str, ...] = ()) -> Client:
    user = User.objects.create_user(username=f"u{uuid.uuid4().hex[:8]}", password="unused-Pw1!x", is_staff=True)
    if tenant_id is None:
        user.is_superuser = True
        user.save()
    else:
        TenantMembership.objects.create(user=user, tenant_id=tenant_id)
        user.user_permissions.add(*Permission.objects.filter(codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


def test_portal_release_asks_first_then_releases(vault: SecretStore) -> None:
    guid = new_guid()
    activated(guid, "acme")
    reset_and_claimed_again(guid, "acme")
    request = ReprovisioningRequest.objects.get(device__guid=guid)
    url = "/admin/devices/reprovisioningrequest/"
    action = {"action": "release", "_selected_action": [str(request.pk)], "index": "0"}

    assert portal(tenant_id="acme").get(url).status_code == 403, "seeing them needs its permission"
    viewer = portal(tenant_id="acme", permissions=("view_reprovisioningrequest",))
    assert guid in viewer.get(url).content.decode()
    assert viewer.post(url, action).status_code in (200, 302)
    assert ReprovisioningRequest.objects.get(pk=request.pk).state == "open", "no permission, no release"
    other = portal(tenant_id="other", permissions=("view_reprovisioningrequest", "change_reprovisioningrequest"))
    listing = other.get(url)
    assert listing.status_code == 200 and guid not in listing.content.decode()

    admin = portal(tenant_id="acme", permissions=("view_reprovisioningrequest", "change_reprovisioningrequest"))
    asked = admin.post(url, action)
    assert asked.status_code == 200 and "Release re-provisioning requests" in asked.content.decode()
    assert ReprovisioningRequest.objects.get(pk=request.pk).state == "open", "nothing before confirmation"
    confirmed = admin.post(url, {"action": "release", "_selected_action": [str(request.pk)], "confirm": "yes"})
    assert confirmed.status_code == 302
    assert ReprovisioningRequest.objects.get(pk=request.pk).state == "released"
    assert Device.objects.get(guid=guid).credential == "released"


def test_portal_move_asks_for_the_target_then_moves(vault: SecretStore) -> None:
    guid = new_guid()
    device = activated(guid, "acme")
    url = "/admin/devices/device/"
    admin = portal(tenant_id="acme", permissions=("view_device", "change_device"))
    assert f"/admin/devices/device/{device.pk}/change/" in admin.get(url).content.decode()
    asked = admin.post(url, {"action": "move_to_tenant", "_selected_action": [str(device.pk)], "index": "0"})
    assert asked.status_code == 200 and "Target tenant" in asked.content.decode()
    assert Device.objects.get(pk=device.pk).tenant_id == "acme"
    moved = admin.post(
        url, {"action": "move_to_tenant", "_selected_action": [str(device.pk)], "confirm": "yes", "tenant_id": "beta"}
    )
    assert moved.status_code == 302
    assert Device.objects.get(pk=device.pk).tenant_id == "beta"
    listing = admin.get(url).content.decode()
    assert f"/admin/devices/device/{device.pk}/change/" not in listing, "gone from the old tenant's list"


def test_portal_imports_pasted_and_csv_guids(vault: SecretStore) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    first, second, third = new_guid(), new_guid(), new_guid()
    url = "/admin/devices/enrolleddevice/import/"
    admin = portal(tenant_id="acme", permissions=("view_enrolleddevice", "add_enrolleddevice"))
    assert "Import GUIDs" in admin.get("/admin/devices/enrolleddevice/").content.decode()
    refused = admin.post(url, {"guids": f"{first}\nnot-a-guid\n", "note": ""})
    assert refused.status_code == 200 and "No GUID on line(s) 2" in refused.content.decode()
    assert not EnrolledDevice.objects.exists(), "all or nothing"

    csv = SimpleUploadedFile("fleet.csv", f"guid,hostname\n{second.upper()},pc-2\n{third},pc-3\n".encode())
    done = admin.post(url, {"guids": first, "csv_file": csv, "note": "batch 1", "tenant_id": "ignored"})
    assert done.status_code == 302
    assert sorted(EnrolledDevice.objects.values_list("tenant_id", "guid")) == sorted(
        [("acme", first), ("acme", second), ("acme", third)]
    )
    assert portal(tenant_id="acme", permissions=("view_enrolleddevice",)).get(url).status_code == 302, (
        "no permission, no import page"
    )


def test_a_write_that_fails_gives_the_claim_back_and_marks_nothing(vault: SecretStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Vault failing on a first activation's write must not leave the run holding the claim: its
    end would mark a secret it never wrote (perhaps one in use) unconfirmed, hence replaceable."""
    from rps_site.vault import VaultUnavailable

    guid = new_guid()
    activated(guid, "acme")
    run = runs.run_start(guid=guid, tenant_id="acme", action="activate").run

    def vault_down(*args: object, **kwargs: object) -> int:
        raise VaultUnavailable("write")

    monkeypatch.setattr(type(vault), "create", vault_down)
    with pytest.raises(VaultUnavailable):
        device_secrets.device_secret_first_use(
            run=run, guid=guid, values={"AMT_PASSWORD": Secret("x")}, keep_existing=False
        )
    runs.run_finish(run=run, succeeded=False, failure_cause="save device secret: VaultUnavailable")
    device = Device.objects.get(guid=guid)
    assert (device.credential, device.credential_run_id) == ("confirmed", None)


def test_the_new_endpoints_ask_portal_sessions_for_their_model_permissions(vault: SecretStore) -> None:
    """SECURITY check 24: moving needs change_device, releasing change_reprovisioningrequest, the
    allow-list view/add/delete_enrolleddevice; bearer tokens stay full tenant admins."""
    from tests.portal_sessions import role_session

    guid = new_guid()
    activated(guid, "")
    reset_and_claimed_again(guid, "")
    move, release = f"/api/v1/admin/devices/{guid}/move", f"/api/v1/admin/devices/{guid}/release"
    enrollment = "/api/v1/admin/devices/enrollment"

    viewer = role_session(Device, "view")
    refused = viewer.post(move, {"tenantId": "acme"}, format="json")
    assert (
        refused.status_code == 403
        and refused.json()["message"] == "This request needs the devices.change_device permission."
    )
    requests_viewer = role_session(ReprovisioningRequest, "view")
    assert [item["guid"] for item in requests_viewer.get("/api/v1/admin/devices/reprovisioning-requests").json()] == [
        guid
    ]
    assert requests_viewer.post(release).status_code == 403
    assert role_session(EnrolledDevice, "view").post(enrollment, [guid], format="json").status_code == 403
    assert role_session(EnrolledDevice, "nothing").get(enrollment).status_code == 403

    assert role_session(ReprovisioningRequest, "full").post(release).status_code == 200
    assert role_session(EnrolledDevice, "full").post(enrollment, [guid], format="json").status_code == 201
    assert role_session(Device, "full").post(move, {"tenantId": "acme"}, format="json").status_code == 200
