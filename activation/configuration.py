"""The runner's entry to post-activation configuration (protocol.md §4.1 step 11, §4.3 step 10):
resolve the configuration plan in a worker thread, then run the configuration flows on the
activated session. A plan that cannot be resolved (Vault down) sends nothing to the device and
says so in every component."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async

from activation.configuration_plan import resolve_configuration_plan
from activation.flows.components import MpsPort
from activation.flows.configure import configuration_not_applied, configure_device
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepRecord
from activation.plan import ActivationPlan
from activation.protocol import ActivationStatus
from activation.session import AmtSession

logger = logging.getLogger(__name__)


async def configure_after_activation(
    amt: AmtSession,
    plan: ActivationPlan,
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
    try:
        configuration = await sync_to_async(resolve_configuration_plan, thread_sensitive=False)(
            plan.profile_name, plan.device, plan.tenant_id
        )
    except Exception as error:  # Vault or database unavailable: configure nothing, say why
        logger.warning("configuration plan unavailable for %s (%s)", plan.device_guid, type(error).__name__)
        return configuration_not_applied(status, f"the configuration could not be read ({type(error).__name__})")
    return await configure_device(amt, configuration, secrets, progress, status, mps=mps, pause=pause)
