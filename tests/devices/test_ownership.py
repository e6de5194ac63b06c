"""Runs owned by workers (devices.ownership): a worker's PostgreSQL advisory lock tells a run whose
worker died from one still running, for the orphan sweep and for the device secret claim."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from devices.models import Device, ProvisioningRun
from devices.ownership import WorkerOwnership, orphaned_runs_interrupt
from devices.services import device_secrets, runs
from devices.services.device_secrets import SecretClaimRefused
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker() -> Iterator[WorkerOwnership]:
    """Another worker, alive: it holds its lock on a connection of its own."""
    owner = WorkerOwnership()
    owner.hold(f"live-{uuid.uuid4().hex[:8]}")
    yield owner
    owner.stop()


def dies(owner: WorkerOwnership) -> None:
    """The worker's connection ends; its lock goes once PostgreSQL has ended the backend."""
    backend = owner._holder.info.backend_pid
    owner.stop()
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the backend of a closed connection lives on")


def died_before_recording_the_write(run: ProvisioningRun) -> None:
    """As if its worker died between the Vault write and recording it: Setup was never sent."""
    ProvisioningRun.objects.filter(pk=run.pk).update(secret_written_at=None)


def store(run: ProvisioningRun, password: str) -> None:
    device_secrets.device_secret_first_use(
        run=run, guid=run.device.guid, values={"AMT_PASSWORD": Secret(password)}, keep_existing=False
    )


def run_of(worker: str, *, action: str = "activate") -> ProvisioningRun:
    run = runs.run_start(guid=str(uuid.uuid4()), tenant_id="", action=action).run
    ProvisioningRun.objects.filter(pk=run.pk).update(worker=worker)
    run.worker = worker
    return run


def test_the_sweep_marks_the_runs_of_dead_workers_only(vault: SecretStore, live_worker: WorkerOwnership) -> None:
    alive, unowned, own = run_of(live_worker.worker_id), run_of(""), run_of("the-finder")
    dead, dead_after_setup = run_of("gone:4242:0badc0de"), run_of("gone:4242:0badc0de")
    store(dead, "Pw-1!a")
    died_before_recording_the_write(dead)
    store(dead_after_setup, "Pw-2!a")
    ended = run_of("gone:4242:0badc0de")
    runs.run_finish(run=ended, succeeded=True)

    assert orphaned_runs_interrupt(finder="the-finder") == 2
    assert orphaned_runs_interrupt(finder="the-finder") == 0  # once

    dead.refresh_from_db()
    assert dead.outcome == ProvisioningRun.Outcome.FAILURE and dead.finished_at is not None
    assert dead.failure_cause == (
        "interrupted: its worker gone:4242:0badc0de stopped before the run ended (found by worker the-finder)"
    )
    device = Device.objects.get(pk=dead.device_id)
    # First seen in the interrupted run: failed; its secret, never sent, is replaceable.
    assert (device.status, device.credential) == (Device.Status.FAILED, Device.Credential.UNCONFIRMED)
    # One that may have been sent with Setup stays of no record: in use until verified.
    other = Device.objects.get(pk=dead_after_setup.device_id)
    assert (other.status, other.credential) == (Device.Status.FAILED, Device.Credential.UNKNOWN)
    outcomes = ProvisioningRun.objects.filter(pk__in=[alive.pk, unowned.pk, own.pk, ended.pk]).values_list(
        "outcome", flat=True
    )
    assert sorted(outcomes) == ["in_progress", "in_progress", "in_progress", "success"]


def test_a_claim_is_busy_while_its_worker_lives_and_free_once_it_died(vault: SecretStore) -> None:
    owner = WorkerOwnership()
    owner.hold(f"doomed-{uuid.uuid4().hex[:8]}")
    first = run_of(owner.worker_id)
    guid = first.device.guid
    store(first, "First-1!a")
    died_before_recording_the_write(first)
    retry = runs.run_start(guid=guid, tenant_id="", action="activate").run
    with pytest.raises(SecretClaimRefused) as refused:
        device_secrets.device_secret_first_use(
            run=retry, guid=guid, values={"AMT_PASSWORD": Secret("Retry-1!a")}, keep_existing=False
        )
    assert refused.value.reason is SecretClaimRefused.Reason.BUSY

    dies(owner)  # the worker died: PostgreSQL let its lock go with its connection
    again = runs.run_start(guid=guid, tenant_id="", action="activate").run
    written = device_secrets.device_secret_first_use(
        run=again, guid=guid, values={"AMT_PASSWORD": Secret("Retry-2!a")}, keep_existing=False
    )
    # What the dead run stored was never confirmed: replaced, kept as a prior version.
    assert written.replaced is not None and written.replaced.values["AMT_PASSWORD"].reveal() == "First-1!a"
    stored = device_secrets.device_secret_read(guid=guid)
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == "Retry-2!a"


def test_a_claim_never_makes_a_secret_in_use_replaceable(vault: SecretStore) -> None:
    owner = WorkerOwnership()
    owner.hold(f"doomed-{uuid.uuid4().hex[:8]}")
    first = run_of(owner.worker_id)
    guid = first.device.guid
    device_secrets.device_secret_first_use(
        run=first, guid=guid, values={"AMT_PASSWORD": Secret("First-1!a")}, keep_existing=False
    )
    assert runs.device_activation_confirmed(run=first, tenant_id="", control_mode=1, profile_name="p")
    dies(owner)  # died after Setup was confirmed, before the run ended

    stranger = runs.run_start(guid=guid, tenant_id="", action="activate").run
    with pytest.raises(SecretClaimRefused) as refused:
        device_secrets.device_secret_first_use(
            run=stranger, guid=guid, values={"AMT_PASSWORD": Secret("Evil-1!a")}, keep_existing=False
        )
    assert refused.value.reason is SecretClaimRefused.Reason.IN_USE
    assert orphaned_runs_interrupt(finder="the-finder") == 1
    assert Device.objects.get(guid=guid).credential == Device.Credential.CONFIRMED


def test_a_secret_recorded_as_written_before_the_worker_died_stays_in_use(vault: SecretStore) -> None:
    owner = WorkerOwnership()
    owner.hold(f"doomed-{uuid.uuid4().hex[:8]}")
    first = run_of(owner.worker_id)
    guid = first.device.guid
    device_secrets.device_secret_first_use(
        run=first, guid=guid, values={"AMT_PASSWORD": Secret("First-1!a")}, keep_existing=False
    )
    dies(owner)  # died after the write, when Setup may have been sent: the device may use it

    assert orphaned_runs_interrupt(finder="the-finder") == 1
    assert Device.objects.get(guid=guid).credential == Device.Credential.UNKNOWN
    stranger = runs.run_start(guid=guid, tenant_id="", action="activate").run
    with pytest.raises(SecretClaimRefused) as refused:
        device_secrets.device_secret_first_use(
            run=stranger, guid=guid, values={"AMT_PASSWORD": Secret("Evil-1!a")}, keep_existing=False
        )
    assert refused.value.reason is SecretClaimRefused.Reason.IN_USE
    stored = device_secrets.device_secret_read(guid=guid)
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == "First-1!a"
