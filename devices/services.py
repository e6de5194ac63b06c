"""Writes about devices: the registry, the run history, and the per-device secrets in Vault.

Secret order follows DESIGN.md "Nothing half-written": a first activation writes the generated
passwords (create-only) before the device is told to use them; a rotation stages the new
password as `PENDING_AMT_PASSWORD` beside the working one and promotes it with check-and-set
once AMT confirms; deactivation destroys every version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices.models import Device, ProvisioningRun, RunStep
from devices.mps import MpsClient, MpsOutcome
from rps_site.api_errors import ResourceNotFound
from rps_site.sensitive import Secret
from rps_site.vault import StoredSecret, device_path, secret_store

AMT_PASSWORD = "AMT_PASSWORD"
MEBX_PASSWORD = "MEBX_PASSWORD"
MPS_PASSWORD = "MPS_PASSWORD"
PENDING_AMT_PASSWORD = "PENDING_AMT_PASSWORD"


class NoPendingPassword(Exception):
    def __init__(self) -> None:
        super().__init__("no pending AMT password to promote")


# --- secrets -------------------------------------------------------------------------------------


def device_secret_read(*, guid: str) -> StoredSecret | None:
    return secret_store().read(device_path(guid))


def device_secret_create(*, guid: str, values: Mapping[str, Secret]) -> int:
    """Create-only: a device that already has a secret is never silently overwritten."""
    return secret_store().create(device_path(guid), values)


def device_secret_merge(*, guid: str, values: Mapping[str, Secret]) -> int:
    """Set some keys, keeping the others, with check-and-set against the version read."""
    store = secret_store()
    path = device_path(guid)
    current = store.read(path)
    if current is None:
        return store.create(path, values)
    return store.update(path, {**current.values, **values}, expected_version=current.version)


def device_password_stage(*, guid: str, amt_password: Secret) -> int:
    """Record a new AMT password beside the working one, before the device is told to use it."""
    return device_secret_merge(guid=guid, values={PENDING_AMT_PASSWORD: amt_password})


def device_password_promote(*, guid: str) -> int:
    """The device confirmed the pending password: it becomes `AMT_PASSWORD`."""
    store = secret_store()
    path = device_path(guid)
    current = store.read(path)
    if current is None or PENDING_AMT_PASSWORD not in current.values:
        raise NoPendingPassword()
    values = {key: value for key, value in current.values.items() if key != PENDING_AMT_PASSWORD}
    values[AMT_PASSWORD] = current.values[PENDING_AMT_PASSWORD]
    return store.update(path, values, expected_version=current.version)


def device_password_discard_pending(*, guid: str) -> None:
    store = secret_store()
    path = device_path(guid)
    current = store.read(path)
    if current is None or PENDING_AMT_PASSWORD not in current.values:
        return
    values = {key: value for key, value in current.values.items() if key != PENDING_AMT_PASSWORD}
    store.update(path, values, expected_version=current.version)


def device_secret_destroy(*, guid: str) -> None:
    secret_store().destroy(device_path(guid))


# --- registry and history --------------------------------------------------------------------------


def run_start(
    *,
    guid: str,
    tenant_id: str,
    action: str,
    profile_name: str = "",
    client_address: str = "",
    hostname: str = "",
    dns_suffix: str = "",
    amt_version: str = "",
    amt_build: str = "",
    amt_sku: str = "",
    control_mode: int | None = None,
) -> ProvisioningRun:
    """Record that a device connected for `action`; creates the device on first sight."""
    canonical = device_path(guid).removeprefix("devices/")
    known = {
        "hostname": hostname,
        "dns_suffix": dns_suffix,
        "amt_version": amt_version,
        "amt_build": amt_build,
        "amt_sku": amt_sku,
    }
    device = Device(guid=canonical, tenant_id=tenant_id, last_seen_at=timezone.now(), **known)
    update_fields = ["tenant_id", "last_seen_at", *(field for field, value in known.items() if value)]
    if control_mode is not None:
        device.control_mode = control_mode
        update_fields.append("control_mode")
    # One upsert (INSERT ... ON CONFLICT (guid) DO UPDATE): what the client reports now replaces
    # what was known, but an empty value never blanks a known one.
    Device.objects.bulk_create([device], update_conflicts=True, unique_fields=["guid"], update_fields=update_fields)
    return ProvisioningRun.objects.create(
        device=device, action=action, profile_name=profile_name, client_address=client_address
    )


def run_finish(
    *,
    run: ProvisioningRun,
    succeeded: bool,
    status_message: str = "",
    failure_cause: str = "",
    device_status: str | None = None,
    control_mode: int | None = None,
    profile_name: str | None = None,
    steps: Sequence[tuple[str, str, str] | tuple[str, str, str, datetime]] | None = None,
) -> None:
    """Close a run: its outcome, its steps, and the device's new state.

    A run's steps are written here and only here, once, in order: (name, outcome, detail) and
    when each ended (now when not given)."""
    now = timezone.now()
    with transaction.atomic():
        if steps:
            RunStep.objects.bulk_create(
                RunStep(
                    run=run,
                    position=position,
                    name=step[0],
                    outcome=step[1],
                    detail=step[2][:2000],
                    recorded_at=step[3] if len(step) > 3 else now,
                )
                for position, step in enumerate(steps, start=1)
            )
        run.outcome = ProvisioningRun.Outcome.SUCCESS if succeeded else ProvisioningRun.Outcome.FAILURE
        run.finished_at = now
        run.status_message = status_message[:2000]
        run.failure_cause = failure_cause[:2000]
        run.save(update_fields=["outcome", "finished_at", "status_message", "failure_cause"])
        # One UPDATE, no read: the device's new state as column expressions.
        changes: dict[str, Any] = {"last_seen_at": now}
        if device_status is not None:
            changes["status"] = device_status
            if device_status == Device.Status.ACTIVATED:
                changes["activated_at"] = Coalesce("activated_at", Value(now))  # the first activation's time
            elif device_status == Device.Status.DEACTIVATED:
                changes["activated_at"] = None
        elif not succeeded:
            # A run that ended early (refused, interrupted) leaves a device first seen in it
            # `failed`, never `in_progress` for good; a known device keeps the state it had.
            changes["status"] = Case(
                When(status=Device.Status.IN_PROGRESS, then=Value(Device.Status.FAILED)), default=F("status")
            )
        if control_mode is not None:
            changes["control_mode"] = control_mode
        if profile_name is not None:
            changes["profile_name"] = profile_name
        Device.objects.filter(pk=run.device_id).update(**changes)


def device_purge(*, tenant_id: str, guid: str, mps: MpsClient | None = None) -> MpsOutcome:
    """Forget a device that can never be deactivated: its row and history, its secret, its MPS record."""
    canonical = guid.lower()
    device = Device.objects.filter(tenant_id=tenant_id, guid=canonical).first()
    if device is None:
        raise ResourceNotFound(f"Device {guid} Not Found")
    device_secret_destroy(guid=canonical)
    outcome = async_to_sync((mps or MpsClient.from_settings()).delete_device)(guid=canonical, tenant_id=tenant_id)
    device.delete()
    return outcome
