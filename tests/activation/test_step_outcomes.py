"""A run's steps say what truly happened: a call that was not made because MPS is not configured
is Skipped, not Success; a component the profile does not ask for is Not applicable. The runner
in process against amtsim, real Vault and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from activation.flows.ports import StepOutcome
from activation.runner import DeviceSessionRunner
from amtsim import DeviceIdentity, VirtualAmtDevice
from devices.models import ProvisioningRun, RunStep
from profiles.models import Profile
from tests.activation.amtsim_link import InProcessDevice
from tests.activation.test_runner_fail_closed import activation_request
from tests.mps_recorder import running_mps_recorder


def test_the_flows_outcomes_are_the_ones_a_run_stores() -> None:
    assert {outcome.value for outcome in StepOutcome} == set(RunStep.Outcome.values)


async def activate_ccm(name: str) -> list[tuple[str, str, str]]:
    await Profile.objects.acreate(
        name=name, activation="ccmactivate", generate_random_password=True, version=1, dhcp_enabled=True
    )
    device = VirtualAmtDevice(DeviceIdentity())

    async def send(_: str) -> None:
        return None

    runner = DeviceSessionRunner(
        activation_request(device, name), InProcessDevice(device), send, client_address="127.0.0.1"
    )
    terminal = json.loads(await runner.execute())
    assert terminal["method"] == "success", terminal
    run = await ProvisioningRun.objects.aget(device__guid=device.identity.uuid)
    return [(step.name, step.outcome, step.detail) async for step in run.steps.order_by("position")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_without_mps_its_steps_are_skipped_and_what_the_profile_lacks_is_not_applicable(  # type: ignore[no-untyped-def]
    vault, settings
) -> None:
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    settings.MPS_URL = ""
    steps = {name: (outcome, detail) for name, outcome, detail in await activate_ccm("ccm-no-mps")}
    assert steps["register with MPS"] == ("skipped", "MPS is not configured (RPS_MPS_URL is empty)")
    assert steps["update MPS with the outcome"][0] == "skipped"
    assert steps["IPS_HostBasedSetupService.Setup"][0] == "success"
    assert steps["configure WiredNetwork"][0] == "success"
    # A CCM profile with neither TLS, CIRA nor a proxy: the status JSON's NotApplicable components.
    for component, readable in (
        ("CIRAProxy", "CIRA proxy"),
        ("TLS", "TLS"),
        ("CIRAConnection", "CIRA connection"),
    ):
        assert steps[f"configure {component}"] == ("not_applicable", f"{readable} not part of this configuration")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_with_mps_its_steps_succeed(vault, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    with running_mps_recorder() as mps:
        settings.MPS_URL = mps.url
        steps = {name: outcome for name, outcome, _ in await activate_ccm("ccm-with-mps")}
    assert steps["register with MPS"] == steps["update MPS with the outcome"] == "success"
