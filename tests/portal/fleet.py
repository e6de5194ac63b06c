"""A made-up fleet for the portal: devices with a history of runs and steps, written through the
ORM in bulk. Used by the portal's browser test (run inside the e2e server's environment) and by
bench/dashboard_bench.py (10,000 devices, 100,000 runs)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from devices.models import Device, ProvisioningRun, RunStep

BATCH = 5000
FAILURES = [
    ("AMT_GeneralSettings.Get", "WsmanTimeout: no answer from the device within 12 s"),
    (
        "IPS_HostBasedSetupService.AdminSetup",
        "DomainSuffixMismatch: device fqdn {host} does not match any domain of tenant '{tenant}'",
    ),
    ("IPS_HostBasedSetupService.Setup", "Setup answered ReturnValue 1 (PT_STATUS_INTERNAL_ERROR)"),
    ("store passwords", "VaultUnavailable: the secret store did not answer during write; nothing was stored"),
    ("register with MPS", "MPS answered HTTP 503 to POST /api/v1/devices"),
]
SUCCESS_STEPS = ["AMT_GeneralSettings.Get", "IPS_HostBasedSetupService.Setup", "register with MPS"]


@contextmanager
def explicit_times() -> Iterator[None]:
    """Let bulk inserts keep the given `created_at` / `started_at` instead of "now"."""
    fields = [Device._meta.get_field("created_at"), ProvisioningRun._meta.get_field("started_at")]
    for field in fields:
        field.auto_now_add = False  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for field in fields:
            field.auto_now_add = True  # type: ignore[attr-defined]


def seed_fleet(
    *, tenant_id: str, devices: int, runs: int, days: int = 30, now: datetime | None = None, seed: int = 14
) -> None:
    """`devices` devices of `tenant_id` and `runs` runs spread over the last `days` days: mostly
    activations, about 6 % failed (each with its failing step), a few still running."""
    rng = random.Random(seed)
    now = now or timezone.now()
    with transaction.atomic(), explicit_times():
        fleet = []
        for index in range(devices):
            mode = rng.choices([2, 1, 0], weights=[55, 35, 10])[0]
            status = (
                rng.choices(["activated", "failed", "deactivated"], weights=[92, 5, 3])[0]
                if mode
                else rng.choice(["failed", "in_progress", "deactivated"])
            )
            seen = now - timedelta(seconds=rng.uniform(0, days * 86400))
            fleet.append(
                Device(
                    guid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    tenant_id=tenant_id,
                    hostname=f"vpro-{index:05d}.corp.example.com",
                    dns_suffix="corp.example.com",
                    amt_version=rng.choice(["16.1.27", "18.0.5", "19.0.0"]),
                    control_mode=mode,
                    profile_name="acm-corp" if mode == 2 else "ccm-branch",
                    status=status,
                    activated_at=seen if status == "activated" else None,
                    last_seen_at=seen,
                    created_at=seen,
                )
            )
        Device.objects.bulk_create(fleet, batch_size=BATCH)
        stored = list(Device.objects.filter(tenant_id=tenant_id).values_list("pk", "hostname"))
        for start in range(0, runs, BATCH):
            batch = []
            for _ in range(start, min(start + BATCH, runs)):
                device_id, hostname = rng.choice(stored)
                started = now - timedelta(seconds=rng.uniform(0, days * 86400))
                outcome = rng.choices(["success", "failure", "in_progress"], weights=[93, 6, 1])[0]
                if outcome == "in_progress" and now - started > timedelta(hours=1):
                    outcome = "success"
                failure = rng.choice(FAILURES) if outcome == "failure" else None
                batch.append(
                    (
                        ProvisioningRun(
                            device_id=device_id,
                            tenant_id=tenant_id,
                            action=rng.choices(["activate", "maintenance", "deactivate"], weights=[85, 10, 5])[0],
                            profile_name=rng.choice(["acm-corp", "ccm-branch"]),
                            client_address=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                            outcome=outcome,
                            failure_cause=failure[1].format(host=hostname, tenant=tenant_id) if failure else "",
                            started_at=started,
                            finished_at=None if outcome == "in_progress" else started + timedelta(seconds=25),
                        ),
                        failure,
                    )
                )
            created = ProvisioningRun.objects.bulk_create([run for run, _ in batch])
            steps = []
            for run, (_, failure) in zip(created, batch, strict=True):
                names = SUCCESS_STEPS if failure is None else [*SUCCESS_STEPS[:1], failure[0]]
                for position, name in enumerate(names, start=1):
                    failed_here = failure is not None and position == len(names)
                    steps.append(
                        RunStep(
                            run=run,
                            position=position,
                            name=name,
                            outcome="failure" if failed_here else "success",
                            detail=run.failure_cause if failed_here else "",
                            recorded_at=run.started_at + timedelta(seconds=5 * position),
                        )
                    )
            RunStep.objects.bulk_create(steps, batch_size=BATCH)
