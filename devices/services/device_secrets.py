"""The per-device secret in Vault at `devices/<guid>` (DESIGN.md "Nothing half-written").

A first activation writes the generated passwords before the device is told to use them, and may
replace a stored secret only when that secret was never confirmed or an admin released it
(`device_secret_first_use`); a rotation stages the new password as `PENDING_AMT_PASSWORD` beside
the working one and promotes it with check-and-set once AMT confirms; deactivation destroys every
version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from devices import ownership
from devices.models import ControlMode, Device, ProvisioningRun, ReprovisioningRequest
from rps_site.sensitive import Secret
from rps_site.vault import SecretVersionConflict, StoredSecret, device_path, secret_store

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


class SecretClaimRefused(Exception):
    """A first activation may not write the device's secret."""

    class Reason(StrEnum):
        IN_USE = "in use"  # confirmed (or of unknown origin): a re-provisioning request was recorded
        BUSY = "busy"  # another live activation of the device holds it

    def __init__(self, reason: SecretClaimRefused.Reason, *, since: datetime | None = None) -> None:
        super().__init__(f"device secret {reason.value}")
        self.reason = reason
        self.since = since


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
            control_mode=ControlMode.PRE_PROVISIONING,
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
