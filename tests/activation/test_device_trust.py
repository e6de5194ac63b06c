"""Trust on first use in process (runner + amtsim, real PostgreSQL and OpenBao): what the end-to-end
tests cannot time, namely a session cancelled while its work is in a worker thread (issue #10
finding 10), and two activations of one GUID at once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from activation.runner import DeviceSessionRunner
from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice
from devices.models import Device, ProvisioningRun
from devices.services import admin_actions, device_secrets, runs
from profiles.models import Profile
from rps_site.sensitive import Secret
from rps_site.vault import device_path
from tests.activation.amtsim_link import InProcessDevice
from tests.activation.test_runner_fail_closed import activation_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
async def profile(settings) -> str:  # type: ignore[no-untyped-def]
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    await Profile.objects.acreate(
        name="ccm-trust", activation="ccmactivate", generate_random_password=True, version=1, dhcp_enabled=True
    )
    return "ccm-trust"


async def no_send(_: str) -> None:
    return None


def runner(device: VirtualAmtDevice, profile: str) -> DeviceSessionRunner:
    return DeviceSessionRunner(
        activation_request(device, profile), InProcessDevice(device), no_send, client_address="192.0.2.10"
    )


class HeldInThread:
    """Wraps a service so that its worker thread is held after (or before) the real call until the
    test lets it go: the session awaiting it can be cancelled while the thread still works."""

    def __init__(self, function: Callable[..., Any], *, hold_after: bool) -> None:
        self.function = function
        self.hold_after = hold_after
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, **kwargs: Any) -> Any:
        if not self.hold_after:
            self.entered.set()
            self.release.wait(10)
        result = self.function(**kwargs)
        if self.hold_after:
            self.entered.set()
            self.release.wait(10)
        return result


async def cancel_while_held(session: asyncio.Task[str], held: HeldInThread) -> None:
    assert await asyncio.to_thread(held.entered.wait, 10)
    session.cancel()
    await asyncio.sleep(0.05)
    held.release.set()
    with pytest.raises(asyncio.CancelledError):
        await session


async def test_a_cancel_while_the_run_is_being_recorded_still_closes_the_run(vault, profile, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    held = HeldInThread(runs.run_start, hold_after=False)
    monkeypatch.setattr(runs, "run_start", held)
    device = VirtualAmtDevice(DeviceIdentity())
    await cancel_while_held(asyncio.create_task(runner(device, profile).execute()), held)

    run = await ProvisioningRun.objects.select_related("device").aget(device__guid=device.identity.uuid)
    assert (run.outcome, run.failure_cause) == ("failure", "client disconnected")
    assert run.device.status == "failed", "never in_progress for good"
    assert device.call_names == []


async def test_a_cancel_after_the_secret_is_stored_leaves_nothing_that_blocks_the_next_attempt(  # type: ignore[no-untyped-def]
    vault, profile, monkeypatch
) -> None:
    held = HeldInThread(device_secrets.device_secret_first_use, hold_after=True)
    monkeypatch.setattr(device_secrets, "device_secret_first_use", held)
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid
    await cancel_while_held(asyncio.create_task(runner(device, profile).execute()), held)

    assert "IPS_HostBasedSetupService.Setup" not in device.call_names
    assert vault.read(device_path(guid)) is None, "the device was never told it: the write is undone"
    registered = await Device.objects.aget(guid=guid)
    assert (registered.status, registered.credential, registered.tenant_id) == ("failed", "unknown", None)
    run = await ProvisioningRun.objects.aget(device=registered)
    assert run.failure_cause == "client disconnected"

    monkeypatch.undo()
    terminal = json.loads(await runner(device, profile).execute())
    assert terminal["method"] == "success", terminal["message"]
    assert device.state.control_mode == ControlMode.CCM


async def test_a_live_activation_keeps_its_claim_and_an_ended_one_leaves_a_replaceable_secret(  # type: ignore[no-untyped-def]
    vault, profile
) -> None:
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid

    def a_session_stored_its_secret() -> ProvisioningRun:
        run = runs.run_start(guid=guid, tenant_id="", action="activate").run
        device_secrets.device_secret_first_use(
            run=run, guid=guid, values={"AMT_PASSWORD": Secret("First-Sess1on!")}, keep_existing=False
        )
        return run

    first = await sync_to_async(a_session_stored_its_secret)()
    refused = json.loads(await runner(device, profile).execute())
    assert refused["method"] == "error"
    assert "Another activation of this device is in progress" in json.loads(refused["message"])["Status"]
    assert vault.read(device_path(guid)).values["AMT_PASSWORD"].reveal() == "First-Sess1on!"  # type: ignore[union-attr]
    assert "IPS_HostBasedSetupService.Setup" not in device.call_names

    # The session ends without a confirmed Setup: what it stored is stale and replaceable.
    await sync_to_async(runs.run_finish)(run=first, succeeded=False, failure_cause="Setup: no answer")
    assert (await Device.objects.aget(guid=guid)).credential == "unconfirmed"
    replaced = json.loads(await runner(device, profile).execute())
    assert replaced["method"] == "success", replaced["message"]
    stored = vault.read(device_path(guid))
    assert stored is not None and stored.version == 2
    assert device.state.admin_password_matches(stored.values["AMT_PASSWORD"].reveal())
    run = await ProvisioningRun.objects.filter(device__guid=guid, outcome="success").alatest("id")
    steps = {step.name: step.detail async for step in run.steps.all()}
    assert steps["replace stored device secret"] == (
        "stale: stored by an earlier activation, which never confirmed it (replaced version 1)"
    )


async def test_an_abandoned_claim_lapses_but_its_secret_counts_as_in_use(vault, profile) -> None:  # type: ignore[no-untyped-def]
    """A worker that died mid-session leaves its run in progress: after an hour the claim no longer
    blocks the device, but Setup may have been applied before the crash, so the secret is not
    replaced unverified: a re-provisioning request, which an admin releases."""
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid

    def a_crashed_session_stored_its_secret() -> None:
        run = runs.run_start(guid=guid, tenant_id="", action="activate").run
        device_secrets.device_secret_first_use(
            run=run, guid=guid, values={"AMT_PASSWORD": Secret("Crashed-Sess1on!")}, keep_existing=False
        )
        ProvisioningRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=2))

    await sync_to_async(a_crashed_session_stored_its_secret)()
    refused = json.loads(await runner(device, profile).execute())
    assert "re-provisioning request was recorded" in json.loads(refused["message"])["Status"]
    assert vault.read(device_path(guid)).values["AMT_PASSWORD"].reveal() == "Crashed-Sess1on!"  # type: ignore[union-attr]

    await sync_to_async(admin_actions.reprovisioning_release)(tenant_id="", guid=guid, released_by="operator")
    activated = json.loads(await runner(device, profile).execute())
    assert activated["method"] == "success", activated["message"]
    assert device.state.control_mode == ControlMode.CCM
