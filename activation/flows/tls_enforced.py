"""Activation of TLS-enforced devices (AMT 19+) through the TLS tunnel (protocol.md §5.5).

The plain CCM flow (`activate_ccm`: Vault before Setup, Setup one-shot with its recovery) runs
unchanged through the tunnel; AMT 19+ then needs what the plain path lacks: **CommitChanges**
after Setup (the firmware applies Setup on commit), a pause of `delay_tls_timer` and a new TLS
session, since AMT restarts its TLS listener. Only then do the admin credentials work for the
rest of the session.

From the commit on, the tunnel verifies no chain: the device is activated and the admin digest
password is the trust boundary (§5.4), and a later TLS configuration replaces the factory chain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from activation.flows.ccm import CCM_FAILED, activate_ccm
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepOutcome
from activation.plan import ActivationPlan
from activation.protocol import ActivationStatus, Component, ComponentResult, ComponentStatus
from activation.session import AmtSession, AmtSessionError, AmtUnauthorized
from activation.wsman import setup
from activation.wsman.response import WsmanFault, WsmanParseError
from rps_site.sensitive import Secret

Pause = Callable[[float], Awaitable[None]]

ACTIVATION_SYNC_DELAY: Final = 12.0  # delay_timer
TLS_RESTART_DELAY: Final = 15.0  # delay_tls_timer: AMT restarts its TLS listener after CommitChanges
PHASE_ONE_STATUS: Final = "Client control mode (TLS activation Phase 1)."
COMMIT_CALL: Final = "AMT_SetupAndConfigurationService.CommitChanges"


class TunnelControl(Protocol):
    """What the flow asks of the TLS tunnel (`activation.tunnel.TlsTunnelTransport`)."""

    def rebuild(self) -> None: ...

    def trust(self, verify_chain: Callable[[list[bytes]], object] | None) -> None: ...


async def _no_pause(_: float) -> None:
    return None


async def activate_ccm_tls_enforced(
    amt: AmtSession,
    tunnel: TunnelControl,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    local_password: Secret | None,
    pause: Pause = asyncio.sleep,
    tls_pause: Pause = asyncio.sleep,
    phase_one: bool = False,
) -> FlowResult:
    """§5.5 "AMT 19+ CCM" steps 1-5: tunnel (ODCA-verified) → GeneralSettings → Setup →
    CommitChanges → wait, new tunnel → admin credentials. `amt` starts with the local system
    account of the payload (`local_password`); `phase_one` is the first half of ACM."""
    local_username = amt.username
    # activate_ccm's 12 s settle pause comes after the commit here, not between Setup and commit.
    result = await activate_ccm(amt, plan, secrets, progress, pause=_no_pause)
    if not result.succeeded:
        return result

    if not await _commit_setup(amt, result, local_username=local_username, local_password=local_password, plan=plan):
        status = result.status
        assert isinstance(status, ActivationStatus)
        status.components[Component.ACTIVATION] = ComponentStatus(ComponentResult.FAILURE, CCM_FAILED)
        return result

    await tls_pause(TLS_RESTART_DELAY)
    tunnel.rebuild()
    tunnel.trust(None)  # activated: the admin digest password is the trust boundary (§5.4)
    await pause(ACTIVATION_SYNC_DELAY)
    if phase_one:
        status = result.status
        assert isinstance(status, ActivationStatus)
        status.status = PHASE_ONE_STATUS
    return result


async def _commit_setup(
    amt: AmtSession, result: FlowResult, *, local_username: str, local_password: Secret | None, plan: ActivationPlan
) -> bool:
    """CommitChanges after Setup. Firmware that applies Setup only on commit (AMT 19) still knows
    the local system account; firmware (and amtsim) that applied it at once knows only `admin`:
    the admin login is tried first, the local account after a refusal, and `admin` stays."""
    try:
        try:
            outcome = await amt.call(setup.commit_changes())
        except AmtUnauthorized:
            if local_password is None:
                raise
            amt.use_credentials(local_username, local_password)
            try:
                outcome = await amt.call(setup.commit_changes())
            finally:
                amt.use_credentials(setup.ADMIN_USERNAME, plan.amt_password)
    except (AmtSessionError, WsmanFault, WsmanParseError) as error:
        # The device may hold the new password: the stored secret is kept.
        result.fail(COMMIT_CALL, CCM_FAILED, str(error))
        return False
    if not outcome.succeeded:
        result.fail(COMMIT_CALL, CCM_FAILED, f"ReturnValue {outcome.return_value}")
        return False
    result.record(COMMIT_CALL, StepOutcome.SUCCESS)
    return True


__all__ = ["PHASE_ONE_STATUS", "TunnelControl", "activate_ccm_tls_enforced"]
