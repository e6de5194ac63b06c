"""Reads about devices, always scoped to one tenant.

A tenant sees the devices bound to it, and the unbound devices (no activation has succeeded
yet) whose attempts named it, with those attempts only: an unverified claim never shows one
tenant what another tenant's attempts recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery

from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest, RunStep
from rps_site.errors import NotFound
from rps_site.vault import device_path

ALL_TENANTS = "*"


def canonical_guid(guid: str) -> str:
    """Lower-case 8-4-4-4-12, or `InvalidDeviceGuid`."""
    return device_path(guid).removeprefix("devices/")


def _visible_to(tenant_id: str) -> Q:
    claimed = ProvisioningRun.objects.filter(device=OuterRef("pk"), claimed_tenant_id=tenant_id)
    return Q(tenant_id=tenant_id) | (Q(tenant_id__isnull=True) & Q(Exists(claimed)))


def device_list(*, tenant_id: str) -> QuerySet[Device]:
    return Device.objects.filter(_visible_to(tenant_id)).order_by("-last_seen_at", "guid")


@dataclass(frozen=True)
class DeviceHistory:
    device: Device
    runs: list[ProvisioningRun]  # newest first, each with its steps


def device_history(*, tenant_id: str, guid: str) -> DeviceHistory:
    """The device with its runs (for an unbound device, only the runs that named `tenant_id`)."""
    device = Device.objects.filter(_visible_to(tenant_id), guid=guid.lower()).first()
    if device is None:
        raise NotFound(f"Device {guid} Not Found")
    runs = device.runs.prefetch_related(Prefetch("steps", queryset=RunStep.objects.order_by("position")))
    if not device.bound:
        runs = runs.filter(claimed_tenant_id=tenant_id)
    return DeviceHistory(device=device, runs=list(runs))


def enrollment_required(*, tenant_id: str) -> bool:
    required = settings.DEVICE_ENROLLMENT_REQUIRED
    return ALL_TENANTS in required or tenant_id in required


def device_enrolled(*, tenant_id: str, guid: str, bound_to: str | None) -> bool:
    """Whether the device channel may serve this GUID under `tenant_id`: enrollment is not
    required there, the device is already bound to it, or an admin enrolled the GUID in it."""
    if not enrollment_required(tenant_id=tenant_id) or bound_to == tenant_id:
        return True
    return EnrolledDevice.objects.filter(tenant_id=tenant_id, guid=guid).exists()


def enrollment_list(*, tenant_id: str) -> QuerySet[EnrolledDevice]:
    return EnrolledDevice.objects.filter(tenant_id=tenant_id).order_by("guid")


def reprovisioning_request_list(*, tenant_id: str, state: str | None = None) -> QuerySet[ReprovisioningRequest]:
    requests = ReprovisioningRequest.objects.filter(tenant_id=tenant_id).select_related("device")
    return requests.filter(state=state) if state else requests


# --- the portal dashboard's numbers ---------------------------------------------------------------


@dataclass(frozen=True)
class DeviceStateCount:
    control_mode: int
    status: str
    count: int


def device_state_counts(*, tenant_id: str) -> list[DeviceStateCount]:
    """How many of a tenant's devices are in each (control mode, status) pair present."""
    rows = (
        Device.objects.filter(tenant_id=tenant_id)
        .order_by()
        .values_list("control_mode", "status")
        .annotate(count=Count("*"))
    )
    return [DeviceStateCount(control_mode=mode, status=status, count=count) for mode, status, count in rows]


@dataclass(frozen=True)
class RunOutcomeCounts:
    succeeded: int = 0
    failed: int = 0
    in_progress: int = 0

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


def run_outcome_counts(*, tenant_id: str, action: str, since: Mapping[str, datetime]) -> dict[str, RunOutcomeCounts]:
    """A tenant's runs of `action` by outcome, for each window (started at or after its start),
    in one query over the widest window."""
    if not since:
        return {}
    outcomes = {
        "succeeded": ProvisioningRun.Outcome.SUCCESS,
        "failed": ProvisioningRun.Outcome.FAILURE,
        "in_progress": ProvisioningRun.Outcome.IN_PROGRESS,
    }
    windows = list(since.items())
    aggregates = {
        f"w{index}_{field}": Count("id", filter=Q(started_at__gte=start, outcome=outcome))
        for index, (_, start) in enumerate(windows)
        for field, outcome in outcomes.items()
    }
    totals = ProvisioningRun.objects.filter(
        tenant_id=tenant_id, action=action, started_at__gte=min(since.values())
    ).aggregate(**aggregates)
    return {
        name: RunOutcomeCounts(**{field: totals[f"w{index}_{field}"] for field in outcomes})
        for index, (name, _) in enumerate(windows)
    }


@dataclass(frozen=True)
class RunFailure:
    run_id: int
    device_id: int
    device_guid: str
    device_hostname: str
    action: str
    profile_name: str
    started_at: datetime
    failing_step: str
    cause: str


def run_failures_latest(*, tenant_id: str, limit: int) -> list[RunFailure]:
    """A tenant's latest failed runs, newest first, each with its first failed step."""
    failed_steps = RunStep.objects.filter(run=OuterRef("pk"), outcome=RunStep.Outcome.FAILURE).order_by("position")
    rows = (
        ProvisioningRun.objects.filter(tenant_id=tenant_id, outcome=ProvisioningRun.Outcome.FAILURE)
        .order_by("-started_at", "-id")
        .annotate(
            failing_step=Subquery(failed_steps.values("name")[:1]),
            failing_detail=Subquery(failed_steps.values("detail")[:1]),
        )
        .values(
            "id",
            "device_id",
            "device__guid",
            "device__hostname",
            "action",
            "profile_name",
            "started_at",
            "failure_cause",
            "failing_step",
            "failing_detail",
        )[:limit]
    )
    return [
        RunFailure(
            run_id=row["id"],
            device_id=row["device_id"],
            device_guid=row["device__guid"],
            device_hostname=row["device__hostname"],
            action=row["action"],
            profile_name=row["profile_name"],
            started_at=row["started_at"],
            failing_step=row["failing_step"] or "",
            cause=row["failure_cause"] or row["failing_detail"] or "",
        )
        for row in rows
    ]
