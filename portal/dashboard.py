"""The portal's home: one tenant's fleet, activations, failures and certificates at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from devices.models import ControlMode, Device, ReprovisioningRequest
from devices.selectors import (
    RunFailure,
    RunOutcomeCounts,
    device_state_counts,
    reprovisioning_request_list,
    run_failures_latest,
    run_outcome_counts,
)
from profiles.selectors.domains import CERTIFICATE_WARNING, domain_certificates_expiring

ACTIVATE = "activate"  # the action rpc-go's `activate` command records
FAILURES_SHOWN = 8
REQUESTS_SHOWN = 8


@dataclass(frozen=True)
class ControlModeRow:
    control_mode: int
    label: str
    counts: list[int]  # one per status, in `DeviceCounts.statuses` order
    total: int


@dataclass(frozen=True)
class DeviceCounts:
    statuses: list[tuple[str, str]]  # (value, label)
    rows: list[ControlModeRow]
    status_totals: list[int]
    total: int

    def _total_of(self, status: str) -> int:
        totals = dict(zip((value for value, _ in self.statuses), self.status_totals, strict=True))
        return totals[status]

    @property
    def activated(self) -> int:
        return self._total_of(Device.Status.ACTIVATED)

    @property
    def failed(self) -> int:
        return self._total_of(Device.Status.FAILED)


@dataclass(frozen=True)
class CertificateExpiry:
    domain_id: int
    name: str
    domain_suffix: str
    expires_at: datetime
    days_left: int  # negative: expired that many days ago

    @property
    def expired(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class Dashboard:
    tenant_id: str
    devices: DeviceCounts
    activations_day: RunOutcomeCounts
    activations_week: RunOutcomeCounts
    failures: list[RunFailure]
    certificates: list[CertificateExpiry] | None  # None: the user may not see domains
    waiting_requests: list[ReprovisioningRequest] | None  # newest first; None: the user may not see them
    waiting_requests_total: int


def device_counts(*, tenant_id: str) -> DeviceCounts:
    found = {(row.control_mode, row.status): row.count for row in device_state_counts(tenant_id=tenant_id)}
    statuses = list(Device.Status.choices)
    rows = []
    for mode, label in ControlMode.choices:
        counts = [found.get((mode, status), 0) for status, _ in statuses]
        rows.append(ControlModeRow(control_mode=mode, label=str(label), counts=counts, total=sum(counts)))
    status_totals = [sum(row.counts[index] for row in rows) for index in range(len(statuses))]
    return DeviceCounts(
        statuses=[(value, str(label)) for value, label in statuses],
        rows=rows,
        status_totals=status_totals,
        total=sum(status_totals),
    )


def certificate_expiries(*, tenant_id: str, now: datetime) -> list[CertificateExpiry]:
    return [
        CertificateExpiry(
            domain_id=domain.pk,
            name=domain.name,
            domain_suffix=domain.domain_suffix,
            expires_at=domain.expiration_date,
            days_left=(domain.expiration_date - now) // timedelta(days=1),
        )
        for domain in domain_certificates_expiring(tenant_id=tenant_id, before=now + CERTIFICATE_WARNING)
        if domain.expiration_date is not None
    ]


def dashboard_build(
    *, tenant_id: str, now: datetime, with_certificates: bool = True, with_requests: bool = True
) -> Dashboard:
    activations = run_outcome_counts(
        tenant_id=tenant_id,
        action=ACTIVATE,
        since={"day": now - timedelta(days=1), "week": now - timedelta(days=7)},
    )
    return Dashboard(
        tenant_id=tenant_id,
        devices=device_counts(tenant_id=tenant_id),
        activations_day=activations["day"],
        activations_week=activations["week"],
        failures=run_failures_latest(tenant_id=tenant_id, limit=FAILURES_SHOWN),
        certificates=certificate_expiries(tenant_id=tenant_id, now=now) if with_certificates else None,
        **waiting_requests(tenant_id=tenant_id, shown=with_requests),
    )


def waiting_requests(*, tenant_id: str, shown: bool) -> dict[str, Any]:
    """The re-provisioning requests waiting for an admin of the tenant (devices refused until one
    is released), the newest first, and how many there are."""
    if not shown:
        return {"waiting_requests": None, "waiting_requests_total": 0}
    waiting = reprovisioning_request_list(tenant_id=tenant_id, state=ReprovisioningRequest.State.OPEN)
    newest = list(waiting[:REQUESTS_SHOWN])
    total = len(newest) if len(newest) < REQUESTS_SHOWN else waiting.count()
    return {"waiting_requests": newest, "waiting_requests_total": total}
