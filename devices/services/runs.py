"""The registry and the run history a device session writes (README "What the device channel
trusts"): a run records its attempt on the device's own history from the start, but changes what is
stored about the device (tenant, facts, status, credential) only through a `VerifiedChange`,
given once the run has proven itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from devices import ownership
from devices.models import Device, ProvisioningRun, ReprovisioningRequest, RunStep
from devices.selectors import canonical_guid, device_enrolled, enrollment_required


class DeviceNotEnrolled(Exception):
    """The tenant requires enrollment and this GUID is neither enrolled in it nor bound to it."""


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
            _insert_steps(run, steps, now)
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


def _insert_steps(
    run: ProvisioningRun, steps: Sequence[tuple[str, str, str] | tuple[str, str, str, datetime]], now: datetime
) -> None:
    """Every step of a run in one INSERT. Raw SQL because this runs once per session with some
    thirty rows, and building a model instance per row was most of a worker's registry CPU; values
    are prepared by the model's own fields, so the stored text is what the ORM would store."""
    meta = RunStep._meta
    fields = {field.name: field for field in meta.concrete_fields}
    names = ("run", "position", "name", "outcome", "detail", "recorded_at")
    columns = [str(fields[name].column) for name in names]
    recorded_at = fields["recorded_at"]
    values: list[Any] = []
    for position, step in enumerate(steps, start=1):
        when = step[3] if len(step) > 3 else now
        values += [run.pk, position, step[0], step[1], step[2][:2000], recorded_at.get_db_prep_save(when, connection)]
    quote = connection.ops.quote_name
    row = f"({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(column) for column in columns)})"  # noqa: S608
            f" VALUES {', '.join([row] * len(steps))}",
            values,
        )


def _runs_follow_their_device(device_id: int) -> None:
    """A device was bound: its runs from while it was unbound are its tenant's now. One statement
    (raw for the reason `_insert_steps` gives: once per first activation)."""
    runs, devices = ProvisioningRun._meta.db_table, Device._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {runs} SET tenant_id = (SELECT tenant_id FROM {devices} WHERE id = %s)"  # noqa: S608
            " WHERE device_id = %s AND tenant_id IS NULL",
            [device_id, device_id],
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
