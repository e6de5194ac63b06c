"""What an admin does to devices (portal and API): purge, move to another tenant, release a
re-provisioning request, enroll. MPS follows a move or a purge, or nothing changes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Final

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record, audited_action, by_guid, enrolled_guids
from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest
from devices.mps import MpsClient, MpsOutcome
from devices.services.device_secrets import device_secret_destroy
from rps_site.errors import NotFound, Refused, ServiceUnavailable
from rps_site.vault import device_path, secret_store

logger = logging.getLogger(__name__)


class MpsMoveFailed(ServiceUnavailable):
    """MPS did not take part in a device's move; nothing was moved."""


@audited_action("devices", "purge", name=by_guid)
def device_purge(*, tenant_id: str, guid: str, mps: MpsClient | None = None) -> MpsOutcome:
    """Forget a device that can never be deactivated: its row and history, its secret, its MPS record."""
    canonical = guid.lower()
    device = Device.objects.filter(tenant_id=tenant_id, guid=canonical).first()
    if device is None:
        raise NotFound(f"Device {guid} Not Found")
    device_secret_destroy(guid=canonical)
    outcome = async_to_sync((mps or MpsClient.from_settings()).delete_device)(guid=canonical, tenant_id=tenant_id)
    device.delete()
    return outcome


@audited_action("devices", "release", name=by_guid)
def reprovisioning_release(*, tenant_id: str, guid: str, released_by: str) -> ReprovisioningRequest:
    """Let the next activation of the device replace its stored secret, which stays in Vault as
    a prior version. Only the open request of a device the tenant may see."""
    canonical = guid.lower()
    now = timezone.now()
    with transaction.atomic():
        request = (
            ReprovisioningRequest.objects.select_for_update()
            .select_related("device")
            .filter(tenant_id=tenant_id, device__guid=canonical, state=ReprovisioningRequest.State.OPEN)
            .first()
        )
        if request is None:
            raise NotFound(f"No open re-provisioning request for device {guid}")
        stored = secret_store().read(device_path(canonical))
        Device.objects.filter(pk=request.device_id).update(credential=Device.Credential.RELEASED, credential_run=None)
        request.state = ReprovisioningRequest.State.RELEASED
        request.released_at = now
        request.released_by = released_by[:150]
        request.released_secret_version = stored.version if stored is not None else None
        request.save(update_fields=["state", "released_at", "released_by", "released_secret_version"])
    logger.info("re-provisioning of device %s released by %s", canonical, released_by)
    return request


# The fields of an MPS device record that `POST /api/v1/devices` takes back (§4.5).
MPS_RECORD_FIELDS: Final = ("guid", "hostname", "tags", "mpsusername", "friendlyName", "dnsSuffix", "deviceInfo")


@audited_action(
    "devices", "move", name=by_guid, detail=lambda arguments: f"to tenant {arguments['target_tenant_id']!r}"
)
def device_move(*, tenant_id: str, guid: str, target_tenant_id: str, mps: MpsClient | None = None) -> Device:
    """An admin of the device's tenant gives it to another tenant: the registry row, its open
    re-provisioning requests and its MPS record (re-registered under the target tenant). The
    secret at `devices/<guid>` is global and stays. Nothing changes when MPS cannot follow.
    The audit trail records the move in both tenants: the target's admins see what arrived."""
    canonical = guid.lower()
    client = mps or MpsClient.from_settings()
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(tenant_id=tenant_id, guid=canonical).first()
        if device is None:
            raise NotFound(f"Device {guid} Not Found")
        if target_tenant_id == tenant_id:
            raise Refused(f"Device {guid} is already in this tenant")
        restore = async_to_sync(_move_mps_record)(client, canonical, tenant_id, target_tenant_id)
        try:
            Device.objects.filter(pk=device.pk).update(tenant_id=target_tenant_id)
            ReprovisioningRequest.objects.filter(device=device).update(tenant_id=target_tenant_id)
            ProvisioningRun.objects.filter(device=device).update(tenant_id=target_tenant_id)
            audit_record(
                tenant_id=target_tenant_id,
                resource="devices",
                name=canonical,
                action="move",
                detail=f"from tenant {tenant_id!r}",
            )
        except Exception:
            if restore is not None:
                async_to_sync(client.register_device)(restore)
            raise
    device.tenant_id = target_tenant_id
    logger.info("device %s moved from tenant %r to %r", canonical, tenant_id, target_tenant_id)
    return device


async def _move_mps_record(mps: MpsClient, guid: str, source: str, target: str) -> dict[str, Any] | None:
    """MPS keeps one record per GUID: it is read, deleted under `source` and registered under
    `target`. Returns the original record (to restore it if the move goes no further), or None
    when MPS has none. Raises `MpsMoveFailed`, having put back what it changed."""
    if not mps.configured:
        return None
    found = await mps.get_device(guid=guid, tenant_id=source)
    if found.status == 404 or (found.ok and not found.body):
        return None
    if not found.ok or not isinstance(found.body, dict):
        raise MpsMoveFailed(f"MPS could not be read ({found.detail}); the device was not moved.")
    original = {key: found.body[key] for key in MPS_RECORD_FIELDS if key in found.body} | {"tenantId": source}
    deleted = await mps.delete_device(guid=guid, tenant_id=source)
    if not deleted.ok and deleted.status != 404:
        raise MpsMoveFailed(f"MPS did not remove its record ({deleted.detail}); the device was not moved.")
    registered = await mps.register_device({**original, "tenantId": target})
    if not registered.ok:
        restored = await mps.register_device(original)
        outcome = "restored under its tenant" if restored.ok else "could not be restored: re-register the device"
        raise MpsMoveFailed(f"MPS refused the record ({registered.detail}); its record {outcome}; not moved.")
    return original


@audited_action("devices", "enroll", name=lambda arguments: "enrollment", detail=enrolled_guids)
def enrollment_add(*, tenant_id: str, guids: Iterable[str], enrolled_by: str, note: str = "") -> tuple[int, int]:
    """Enroll GUIDs (already canonical) in a tenant; returns (added, already enrolled)."""
    wanted = list(dict.fromkeys(guids))
    existing = set(EnrolledDevice.objects.filter(tenant_id=tenant_id, guid__in=wanted).values_list("guid", flat=True))
    EnrolledDevice.objects.bulk_create(
        [
            EnrolledDevice(tenant_id=tenant_id, guid=guid, enrolled_by=enrolled_by[:150], note=note[:255])
            for guid in wanted
            if guid not in existing
        ],
        ignore_conflicts=True,
    )
    return len(wanted) - len(existing), len(existing)


@audited_action("devices", "unenroll", name=by_guid)
def enrollment_remove(*, tenant_id: str, guid: str) -> None:
    deleted, _ = EnrolledDevice.objects.filter(tenant_id=tenant_id, guid=guid.lower()).delete()
    if not deleted:
        raise NotFound(f"Device {guid} is not enrolled")
