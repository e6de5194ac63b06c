"""The runner's entry to post-activation configuration (protocol.md §4.1 step 11, §4.3 step 10):
run the configuration flows on the activated session, with the plan resolved beside the
activation plan (`activation.plan.resolve.resolve_plans`). A plan that could not be resolved (Vault
down) sends nothing to the device and says so in every component."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from activation.flows.components import MpsPort
from activation.flows.configure import configuration_not_applied, configure_device
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepRecord
from activation.plan.configuration_plan import ConfigurationPlan, ConfigurationUnavailable
from activation.protocol import ActivationStatus
from activation.session import AmtSession


async def configure_after_activation(
    amt: AmtSession,
    configuration: ConfigurationPlan | ConfigurationUnavailable,
    result: FlowResult,
    *,
    secrets: DeviceSecretsPort,
    mps: MpsPort | None,
    progress: ProgressPort,
    pause: Callable[[float], Awaitable[None]],
) -> list[StepRecord]:
    """Configure what the profile asks for; fills `result.status` and returns the step records."""
    status = result.status
    if not isinstance(status, ActivationStatus):
        return []
    if isinstance(configuration, ConfigurationUnavailable):  # configure nothing, say why
        return configuration_not_applied(status, f"the configuration could not be read ({configuration.cause})")
    return await configure_device(
        amt,
        configuration,
        secrets,
        progress,
        status,
        mps=mps,
        pause=pause,
        general_settings=result.general_settings,
    )
