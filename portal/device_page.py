"""A device's page in the portal: its current state, the timeline of its latest runs with each
step's outcome and duration, and the admin actions the user may take on it.

The runs given are already scoped to what the user may see (devices.admin.runs_visible); the
actions are offered only with their permission and are carried out by the admin actions
themselves (confirmation page, permission and tenant checks), never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Prefetch, QuerySet

from devices.models import Device, ProvisioningRun, ReprovisioningRequest, RunStep

RUNS_SHOWN = 20


@dataclass(frozen=True)
class StepLine:
    position: int
    name: str
    outcome: str
    outcome_label: str
    detail: str
    ended_at: datetime
    duration: timedelta  # since the previous step ended (the first: since the run started)

    @property
    def duration_text(self) -> str:
        return duration_text(self.duration)


@dataclass(frozen=True)
class RunLine:
    id: int
    action: str
    profile_name: str
    client_address: str
    outcome: str
    outcome_label: str
    started_at: datetime
    finished_at: datetime | None
    failure_cause: str
    status_message: str
    steps: list[StepLine]

    @property
    def duration_text(self) -> str:
        return duration_text(self.finished_at - self.started_at) if self.finished_at is not None else "running"

    @property
    def failed_step(self) -> StepLine | None:
        return next((step for step in self.steps if step.outcome == RunStep.Outcome.FAILURE), None)


def duration_text(duration: timedelta) -> str:
    """ "0.4 s", "12 s", "3 min 05 s": tenths where they matter, never a bare number."""
    seconds = duration.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


@dataclass(frozen=True)
class DeviceAction:
    """A button on the page: it posts the device (or its request) to an admin action."""

    name: str  # the admin action's name
    label: str
    changelist_url: str  # the changelist whose action it is: it asks for confirmation first
    object_id: int
    danger: bool = False


def step_lines(run: ProvisioningRun, steps: list[RunStep]) -> list[StepLine]:
    lines = []
    previous = run.started_at
    for step in steps:
        lines.append(
            StepLine(
                position=step.position,
                name=step.name,
                outcome=step.outcome,
                outcome_label=str(RunStep.Outcome(step.outcome).label),
                detail=step.detail,
                ended_at=step.recorded_at,
                duration=max(step.recorded_at - previous, timedelta(0)),
            )
        )
        previous = step.recorded_at
    return lines


def run_timeline(runs: QuerySet[ProvisioningRun], *, limit: int = RUNS_SHOWN) -> list[RunLine]:
    """The latest `limit` runs, newest first, each with its steps in order (two queries)."""
    latest = runs.order_by("-started_at", "-id").prefetch_related(
        Prefetch("steps", queryset=RunStep.objects.order_by("position"), to_attr="ordered_steps")
    )[:limit]
    return [
        RunLine(
            id=run.pk,
            action=run.action,
            profile_name=run.profile_name,
            client_address=run.client_address,
            outcome=run.outcome,
            outcome_label=str(ProvisioningRun.Outcome(run.outcome).label),
            started_at=run.started_at,
            finished_at=run.finished_at,
            failure_cause=run.failure_cause,
            status_message=run.status_message,
            steps=step_lines(run, run.ordered_steps),  # type: ignore[attr-defined]
        )
        for run in latest
    ]


def device_facts(device: Device) -> list[tuple[str, str]]:
    """The device's current state as label/value pairs, in the order an admin reads them."""
    tenant = device.tenant_id or "default"
    amt = " · ".join(part for part in (device.amt_version, device.amt_build and f"build {device.amt_build}") if part)
    return [
        ("GUID", device.guid),
        ("Hostname", device.hostname or "—"),
        ("Tenant", "unbound (no activation has succeeded yet)" if device.tenant_id is None else tenant),
        ("AMT", amt or "—"),
        ("DNS suffix", device.dns_suffix or "—"),
        ("Profile", device.profile_name or "—"),
        ("Stored password", str(device.get_credential_display())),
    ]


def open_request(device: Device) -> ReprovisioningRequest | None:
    return device.reprovisioning_requests.filter(state=ReprovisioningRequest.State.OPEN).first()
