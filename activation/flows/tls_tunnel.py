"""`--tls-tunnel` on AMT 11-18 (protocol.md §5.1, §5.5): activate in plain, give the device TLS,
then move the relay to the TLS tunnel for everything that follows.

1. CCM Setup over plain 16992, even for an ACM profile (`activate_ccm`: the passwords are in
   Vault before Setup, as always).
2. The TLS machine of §4.9 over plain 16992, with the certificate signed by the MPS CA; its
   leaf is pinned for the tunnel as it is installed.
3. `port_switch`: rpc-go reconnects to 16993 and acknowledges; the next WS-Man call opens the
   tunnel, which must present the pinned leaf.
4. An ACM profile is then upgraded through the tunnel (`upgrade_to_acm`: chain, signed nonces,
   UpgradeClientToAdmin, MEBx password). A CCM profile goes straight on.

The configuration that follows runs through the tunnel and leaves TLS as it is (no §4.6 TLS
clean-up, no second TLS machine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from activation.flows.acm import upgrade_to_acm
from activation.flows.ccm import activate_ccm
from activation.flows.components import ComponentFailed, Pause, delay_timer
from activation.flows.enterprise_certificates import describe
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepOutcome
from activation.flows.tls import configure_tls_while_activating, mark_tls_configured
from activation.plan.activation_plan import ActivationPlan
from activation.plan.configuration_plan import TlsPlan
from activation.protocol.status import ActivationStatus, Component, ComponentResult, ComponentStatus
from activation.session import AmtSession
from profiles.models import ActivationMode

TLS_FOR_TUNNEL_FAILED: Final = "Failed to configure TLS for the TLS tunnel"
PORT_SWITCH_CALL: Final = "port_switch"


class PortSwitch(Protocol):
    """What the flow asks of the relay (`activation.tunnel.PortSwitchingTransport`)."""

    async def switch_to_tls(self, *, delay_seconds: int) -> None: ...


async def activate_through_tls_tunnel(
    amt: AmtSession,
    relay: PortSwitch,
    plan: ActivationPlan,
    tls: TlsPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    open_tunnel_session: Callable[[], AmtSession],
    switch_delay_seconds: int,
    pause: Pause = delay_timer,
) -> tuple[FlowResult, AmtSession]:
    """Returns the result and the session the rest of the work goes through (the tunnel's once
    the port switch happened, else the plain one)."""
    result = await activate_ccm(amt, plan, secrets, progress, pause=pause)
    if not result.succeeded:
        return result, amt
    status = result.status
    assert isinstance(status, ActivationStatus)

    try:
        leaf = await configure_tls_while_activating(amt, tls, plan, secrets, progress, pause)
    except ComponentFailed as failure:
        # Activated in CCM (its password is stored and works), but without the tunnel it asked for.
        status.tls_configuration = failure.status_text
        status.components[Component.TLS] = ComponentStatus(ComponentResult.FAILURE, failure.status_text)
        return result.fail("configure TLS", f"{TLS_FOR_TUNNEL_FAILED}: {failure.status_text}", failure.cause), amt
    mark_tls_configured(status)
    result.record("configure TLS", StepOutcome.SUCCESS, f"leaf pinned for the tunnel: {describe(leaf)}")

    await progress.report("Switching to the TLS tunnel")
    try:
        await relay.switch_to_tls(delay_seconds=switch_delay_seconds)
    except Exception as failure:  # PortSwitchFailed, or the socket went away
        text = getattr(failure, "failure_text", "Failed to complete port switch to TLS")
        return result.fail(PORT_SWITCH_CALL, text, str(failure) or type(failure).__name__), amt
    result.record(PORT_SWITCH_CALL, StepOutcome.SUCCESS, "the relay now carries the TLS tunnel to 16993")
    tunnel = open_tunnel_session()

    if plan.mode is not ActivationMode.ACM:
        return result, tunnel
    upgrade = await upgrade_to_acm(tunnel, plan, secrets, progress, current_password=plan.amt_password, pause=pause)
    upgraded_status = upgrade.status
    assert isinstance(upgraded_status, ActivationStatus)
    mark_tls_configured(upgraded_status)
    return (
        FlowResult(
            status=upgraded_status,
            succeeded=upgrade.succeeded,
            steps=result.steps + upgrade.steps,
            general_settings=upgrade.general_settings or result.general_settings,
        ),
        tunnel,
    )


__all__ = ["PortSwitch", "TLS_FOR_TUNNEL_FAILED", "activate_through_tls_tunnel"]
