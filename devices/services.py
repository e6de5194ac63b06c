"""Writes about devices: the registry, the run history, and the per-device secrets in Vault.

Secret order follows DESIGN.md "Nothing half-written": a first activation writes the generated
passwords before the device is told to use them; a rotation stages the new password as
`PENDING_AMT_PASSWORD` beside the working one and promotes it with check-and-set once AMT
confirms; deactivation destroys every version.

What the device channel may change follows the README's "What the device channel trusts": a
run records its attempt on the device's own history from the start, but changes what is stored
about the device (tenant, facts, status, credential) only through a `VerifiedChange`, given
once the run has proven itself. A first activation may replace a stored secret only when that
secret was never confirmed or an admin released it (`device_secret_first_use`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from asgiref.sync import async_to_sync
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.services import audited_action, by_guid, enrolled_guids
from devices import ownership
from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest, RunStep
from devices.mps import MpsClient, MpsOutcome
from devices.selectors import canonical_guid, device_enrolled, enrollment_required
from rps_site.errors import NotFound, Refused, ServiceUnavailable
from rps_site.sensitive import Secret
from rps_site.vault import SecretVersionConflict, StoredSecret, device_path, secret_store

logger = logging.getLogger(__name__)

AMT_PASSWORD = "AMT_PASSWORD"
MEBX_PASSWORD = "MEBX_PASSWORD"
MPS_PASSWORD = "MPS_PASSWORD"
PENDING_AMT_PASSWORD = "PENDING_AMT_PASSWORD"

# A run owned by a worker counts as running while its worker lives (devices.ownership). A run with
# no owner to ask (recorded before owners were, or by a process that is not a serving worker) still
# `in_progress` after this long is taken as abandoned: its claim on the device's secret no longer
# blocks a new activation. No device session lives this long (RPS_DEVICE_SESSION_DEADLINE).
ABANDONED_RUN_AGE: Final = timedelta(hours=1)


class NoPendingPassword(Exception):
    def __init__(self) -> None:
        super().__init__("no pending AMT password to promote")


class DeviceNotEnrolled(Exception):
    """The tenant requires enrollment and this GUID is neither enrolled in it nor bound to it."""


class SecretClaimRefused(Exception):
    """A first activation may not write the device's secret."""

    class Reason(StrEnum):
        IN_USE = "in use"  # confirmed (or of unknown origin): a re-provisioning request was recorded
        BUSY = "busy"  # another live activation of the device holds it

    def __init__(self, reason: SecretClaimRefused.Reason, *, since: datetime | None = None) -> None:
        super().__init__(f"device secret {reason.value}")
        self.reason = reason
        self.since = since


class MpsMoveFailed(ServiceUnavailable):
    """MPS did not take part in a device's move; nothing was moved."""


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


def device_secret_destroy(*, guid: str) -> None:
    secret_store().destroy(device_path(guid))


@dataclass(frozen=True)
class FirstUseWrite:
    """What a first activation wrote: its version, the secret it replaced (now a prior Vault
    version, kept so the write can be undone) and why replacing it was allowed."""

    version: int
    replaced: StoredSecret | None = field(repr=False)
    reason: str
    released: bool = False  # it replaced a secret an admin released


def device_secret_first_use(
    *, run: ProvisioningRun, guid: str, values: Mapping[str, Secret], keep_existing: bool
) -> FirstUseWrite:
    """A session that has not proven itself writes the device's secret for an activation.

    Allowed when nothing is stored, or when what is stored came from an activation that never
    confirmed it (and has ended), or an admin released it: then it is replaced with check-and-set
    (`keep_existing`: its other keys are kept) and stays in Vault as a prior version. Refused
    (`SecretClaimRefused`) when it is in use, recording a re-provisioning request, or while
    another activation of the device holds it. The claim is taken in the database first, so two
    sessions never write the same device's first secret; the usual case (nothing stored) costs
    one statement and a create-only write. The device's standing is left as it was while the
    run holds the claim (no other activation can write meanwhile): the run's end marks what it
    wrote unconfirmed (`run_finish`), or Setup's confirmation marks it in use."""
    _claim_device_secret(run)
    try:
        written = _write_first_secret(run, device_path(guid), values, keep_existing=keep_existing)
    except Exception:
        # Nothing of this run's is stored (or it cannot be known): the claim is given back, so its
        # end never marks someone else's secret unconfirmed; the standing was never touched.
        Device.objects.filter(pk=run.device_id, credential_run=run).update(credential_run=None)
        raise
    ownership.record_secret_written(run)
    return written


def _write_first_secret(
    run: ProvisioningRun, path: str, values: Mapping[str, Secret], *, keep_existing: bool
) -> FirstUseWrite:
    store = secret_store()
    try:
        return FirstUseWrite(version=store.create(path, values), replaced=None, reason="no stored secret")
    except SecretVersionConflict:
        current = store.read(path)
    if current is None:
        raise SecretClaimRefused(SecretClaimRefused.Reason.BUSY)  # destroyed meanwhile
    standing = Device.objects.only("credential").get(pk=run.device_id).credential
    reason = _replacement_reason(run, standing)
    if reason is None:
        _record_reprovisioning_request(run)
        raise SecretClaimRefused(SecretClaimRefused.Reason.IN_USE)
    new_values = {**current.values, **values} if keep_existing else dict(values)
    try:
        version = store.update(path, new_values, expected_version=current.version)
    except SecretVersionConflict:
        raise SecretClaimRefused(SecretClaimRefused.Reason.BUSY) from None
    return FirstUseWrite(
        version=version,
        replaced=current,
        reason=f"{reason} (replaced version {current.version})",
        released=standing == Device.Credential.RELEASED,
    )


def device_secret_forget_first_use(
    *, run: ProvisioningRun, guid: str, written: FirstUseWrite, was_confirmed: bool = False
) -> None:
    """The device does not use what `written` stored (Setup refused, or the activation rolled
    back after `was_confirmed`): what was there before comes back (nothing, or the secret it
    replaced), unless the secret changed since."""
    if was_confirmed:
        Device.objects.filter(pk=run.device_id).update(
            status=Device.Status.FAILED,
            control_mode=Device.ControlMode.PRE_PROVISIONING,
            credential=Device.Credential.UNCONFIRMED,
            credential_run=run,
        )
    store = secret_store()
    path = device_path(guid)
    current = store.read(path)
    if current is None or current.version != written.version:
        return
    if written.replaced is None:
        store.destroy(path)
        Device.objects.filter(pk=run.device_id, credential_run=run).update(
            credential=Device.Credential.UNKNOWN, credential_run=None
        )
    else:
        # Back to the replaced values; the claim stays with this run, which is ending, so the
        # restored secret is as replaceable as it was.
        store.update(path, written.replaced.values, expected_version=written.version)


def _claim_device_secret(run: ProvisioningRun) -> None:
    """Hold the device's secret for `run`, in one statement: refused while another live
    activation holds it. A holder whose worker died holds nothing (devices.ownership), and what
    stored before it could tell the device (a secret of no other record) is as replaceable as a
    failed run's end would have left it (`run_finish`); once it could, the device may use it.
    Otherwise the standing is left as it is: Setup's confirmation or the run's end says what
    became of the secret. Raw SQL on purpose: the ORM spent several times the statement's run
    time compiling it, once per activation (bench/activation_bench.py)."""
    devices, runs = Device._meta.db_table, ProvisioningRun._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {devices} SET credential_run_id = %s, credential = CASE WHEN credential = %s AND EXISTS ("  # noqa: S608 (model tables)
            f"SELECT 1 FROM {runs} p WHERE p.id = {devices}.credential_run_id AND p.id <> %s"
            f" AND {ownership.TOLD_THE_DEVICE_NOTHING_SQL.format('p')}) THEN %s ELSE credential END"
            f" WHERE id = %s AND NOT EXISTS (SELECT 1 FROM {runs} r WHERE r.id = {devices}.credential_run_id"
            f" AND r.id <> %s AND r.outcome = %s AND {ownership.may_be_running_sql('r')})",
            [
                run.pk,
                Device.Credential.UNKNOWN,
                run.pk,
                Device.Credential.UNCONFIRMED,
                run.device_id,
                run.pk,
                ProvisioningRun.Outcome.IN_PROGRESS,
                timezone.now() - ABANDONED_RUN_AGE,
            ],
        )
        if cursor.rowcount != 1:
            raise SecretClaimRefused(SecretClaimRefused.Reason.BUSY)


def _replacement_reason(run: ProvisioningRun, standing: str) -> str | None:
    """Why a stored secret may be replaced, or None when it is in use (or of unknown origin)."""
    if standing == Device.Credential.UNCONFIRMED:
        return "stale: stored by an earlier activation, which never confirmed it"
    if standing == Device.Credential.RELEASED:
        released = ReprovisioningRequest.objects.filter(
            device_id=run.device_id, state=ReprovisioningRequest.State.RELEASED
        ).first()
        return f"released for re-provisioning by {released.released_by}" if released else "released for re-provisioning"
    return None


def _record_reprovisioning_request(run: ProvisioningRun) -> None:
    """One open request per device; a repeated attempt updates it."""
    device = Device.objects.get(pk=run.device_id)
    now = timezone.now()
    latest = {
        "profile_name": run.profile_name,
        "client_address": run.client_address,
        "reported_hostname": run.reported_hostname,
        "last_requested_at": now,
    }
    for _ in range(2):  # a concurrent first attempt may insert between the update and the create
        if ReprovisioningRequest.objects.filter(device=device, state=ReprovisioningRequest.State.OPEN).update(
            attempts=F("attempts") + 1, **latest
        ):
            return
        try:
            with transaction.atomic():
                ReprovisioningRequest.objects.create(
                    device=device,
                    tenant_id=device.tenant_id if device.tenant_id is not None else run.claimed_tenant_id,
                    first_requested_at=now,
                    **latest,
                )
            return
        except IntegrityError:
            continue


# --- registry and history --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceReport:
    """What a client reported about its device: unverified until its run proves itself."""

    hostname: str = ""
    dns_suffix: str = ""
    amt_version: str = ""
    amt_build: str = ""
    amt_sku: str = ""
    control_mode: int | None = None

    def facts(self) -> dict[str, str]:
        """The facts to store; an empty value never blanks a known one."""
        known = {
            "hostname": self.hostname,
            "dns_suffix": self.dns_suffix,
            "amt_version": self.amt_version,
            "amt_build": self.amt_build,
            "amt_sku": self.amt_sku,
        }
        return {name: value for name, value in known.items() if value}


@dataclass(frozen=True)
class VerifiedChange:
    """What a run that proved itself (the stored password, or a completed activation) changes
    about its device: the reported facts, and optionally its status, mode, profile, tenant
    (an unbound device only) and credential standing."""

    report: DeviceReport
    status: str | None = None
    control_mode: int | None = None  # instead of the reported one (e.g. 0 after a deactivation)
    profile_name: str | None = None
    bind_tenant_id: str | None = None
    credential: str | None = None


@dataclass(frozen=True)
class RunStarted:
    run: ProvisioningRun
    owner_tenant_id: str | None  # None: the device is unbound
    enrolled: bool  # the GUID may be used under the tenant the request named


def run_start(
    *,
    guid: str,
    tenant_id: str,
    action: str,
    profile_name: str = "",
    client_address: str = "",
    report: DeviceReport = DeviceReport(),
) -> RunStarted:
    """Record that a device connected for `action`, on its own history. A GUID seen for the first
    time gets an unbound row (no tenant) with what the client reported; a known device's row is
    not touched. Raises `DeviceNotEnrolled`, writing nothing, for an unknown GUID the tenant has
    not enrolled when the tenant requires enrollment."""
    canonical = canonical_guid(guid)
    first_sight = Device(guid=canonical, last_seen_at=timezone.now(), **report.facts())
    if report.control_mode is not None:
        first_sight.control_mode = report.control_mode
    if not enrollment_required(tenant_id=tenant_id):
        device_id, owner_tenant_id = _insert_unless_known(first_sight)
        enrolled = True
    else:
        known = Device.objects.filter(guid=canonical).values_list("id", "tenant_id").first()
        owner_tenant_id = known[1] if known is not None else None
        enrolled = device_enrolled(tenant_id=tenant_id, guid=canonical, bound_to=owner_tenant_id)
        if known is None and not enrolled:
            raise DeviceNotEnrolled(canonical)
        device_id, owner_tenant_id = known if known is not None else _insert_unless_known(first_sight)
    run = ProvisioningRun.objects.create(
        device_id=device_id,
        tenant_id=owner_tenant_id,
        action=action,
        profile_name=profile_name,
        client_address=client_address,
        claimed_tenant_id=tenant_id,
        reported_hostname=report.hostname,
        reported_control_mode=report.control_mode,
        worker=ownership.worker.worker_id,
    )
    return RunStarted(run=run, owner_tenant_id=owner_tenant_id, enrolled=enrolled)


def _insert_unless_known(device: Device) -> tuple[int, str | None]:
    """The row of `device.guid`, inserted unless it exists (a concurrent first sight included),
    unchanged if it does: (id, tenant_id) in one statement. Raw SQL because the ORM's upsert
    cannot return the existing row's tenant (a second query per activation otherwise); columns
    and values come from the model, so a field added later is inserted too."""
    fields = [field for field in Device._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    table = quote(Device._meta.db_table)
    values = [field.get_db_prep_save(field.pre_save(device, add=True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(quote(str(field.column)) for field in fields)})"  # noqa: S608
            f" VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT ({quote('guid')})"
            f" DO UPDATE SET {quote('guid')} = excluded.{quote('guid')} RETURNING id, tenant_id",
            values,
        )
        device_id, tenant_id = cursor.fetchone()
    return device_id, tenant_id


def run_finish(
    *,
    run: ProvisioningRun,
    succeeded: bool,
    status_message: str = "",
    failure_cause: str = "",
    steps: Sequence[tuple[str, str, str] | tuple[str, str, str, datetime]] | None = None,
    change: VerifiedChange | None = None,
) -> None:
    """Close a run: its outcome and its steps, and, only with a `change` (the run proved itself),
    the device's new state.

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
        if change is not None:
            Device.objects.filter(pk=run.device_id).update(**_device_changes(change, now))
            if change.bind_tenant_id is not None and run.tenant_id is None:
                _runs_follow_their_device(run.device_id)
        elif not succeeded:
            # A device first seen in a run that ended early (refused, interrupted) shows `failed`,
            # never `in_progress` for good; a known device keeps the state it had. A secret the
            # run wrote under its claim was never confirmed: it stays, replaceable.
            Device.objects.filter(pk=run.device_id).update(
                status=Case(
                    When(status=Device.Status.IN_PROGRESS, then=Value(Device.Status.FAILED)), default=F("status")
                ),
                credential=Case(
                    When(credential_run=run, then=Value(Device.Credential.UNCONFIRMED)), default=F("credential")
                ),
            )


def _runs_follow_their_device(device_id: int) -> None:
    """A device was bound: its runs from while it was unbound are its tenant's now."""
    ProvisioningRun.objects.filter(device_id=device_id, tenant_id__isnull=True).update(
        tenant_id=Subquery(Device.objects.filter(pk=device_id).values("tenant_id")[:1])
    )


def _device_changes(change: VerifiedChange, now: datetime) -> dict[str, Any]:
    """One UPDATE, no read: the device's new state as column expressions."""
    changes: dict[str, Any] = {"last_seen_at": now, **change.report.facts()}
    control_mode = change.control_mode if change.control_mode is not None else change.report.control_mode
    if control_mode is not None:
        changes["control_mode"] = control_mode
    if change.status is not None:
        changes["status"] = change.status
        if change.status == Device.Status.ACTIVATED:
            changes["activated_at"] = Coalesce("activated_at", Value(now))  # the first activation's time
        elif change.status == Device.Status.DEACTIVATED:
            changes["activated_at"] = None
    if change.profile_name is not None:
        changes["profile_name"] = change.profile_name
    if change.bind_tenant_id is not None:
        changes["tenant_id"] = Coalesce("tenant_id", Value(change.bind_tenant_id))  # fixed once bound
    if change.credential is not None:
        changes["credential"] = change.credential
        changes["credential_run"] = None
    return changes


def device_secret_confirmed(*, run: ProvisioningRun) -> None:
    """AMT accepted a password `run` stored for an activated device it claimed: in use now."""
    Device.objects.filter(pk=run.device_id, credential_run=run).update(
        credential=Device.Credential.CONFIRMED, credential_run=None
    )


def device_activation_confirmed(
    *,
    run: ProvisioningRun,
    tenant_id: str,
    control_mode: int,
    profile_name: str,
    completes_release: bool = False,
) -> bool:
    """The device confirmed the password `run` stored for it (Setup or AdminSetup): it is
    activated, bound to `tenant_id` if it was unbound, and its secret is in use from now on
    (`completes_release`: the re-provisioning an admin released is done). False when the run no
    longer holds the device's secret claim. Raw SQL for the reason `_claim_device_secret` gives:
    it runs once per activation, mid-flow."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Device._meta.db_table} SET credential = %s, credential_run_id = NULL,"  # noqa: S608
            " tenant_id = COALESCE(tenant_id, %s), status = %s, control_mode = %s, profile_name = %s,"
            " activated_at = COALESCE(activated_at, %s), last_seen_at = %s"
            " WHERE id = %s AND credential_run_id = %s AND (tenant_id IS NULL OR tenant_id = %s)",
            [
                Device.Credential.CONFIRMED,
                tenant_id,
                Device.Status.ACTIVATED,
                control_mode,
                profile_name,
                now,
                now,
                run.device_id,
                run.pk,
                tenant_id,
            ],
        )
        confirmed = cursor.rowcount == 1
    if confirmed and completes_release:
        ReprovisioningRequest.objects.filter(
            device_id=run.device_id, state=ReprovisioningRequest.State.RELEASED
        ).update(state=ReprovisioningRequest.State.COMPLETED, completed_at=now)
    return confirmed


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


# --- admin actions ----------------------------------------------------------------------------------


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
    secret at `devices/<guid>` is global and stays. Nothing changes when MPS cannot follow."""
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
