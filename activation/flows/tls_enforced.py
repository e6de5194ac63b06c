"""Activation of TLS-enforced devices (AMT 19+) through the TLS tunnel (protocol.md §5.5).

ACM: AMT 19+ refuses AdminSetup over TLS in pre-provisioning, so the device is first activated in
CCM ("Phase 1") and then upgraded (`upgrade_to_acm`: provisioning chain, UpgradeClientToAdmin,
MEBx password) and committed. When the profile asks for TLS, it is configured between the two
phases (§5.5 ACM steps 2-3): the certificate RPS issues is pinned, and the upgrade (chain, signed
nonces) goes through a new tunnel session that must present it. Without TLS in the profile the
upgrade goes through the Phase 1 tunnel, unverified once activated (the admin digest password is
the trust boundary, §5.4). A failure after Phase 1 rolls the device back with `Unprovision`.

The plain CCM flow (`activate_ccm`: Vault before Setup, Setup one-shot with its recovery) runs
unchanged through the tunnel; AMT 19+ then needs what the plain path lacks: **CommitChanges**
after Setup (the firmware applies Setup on commit), a pause of `delay_tls_timer` and a new TLS
session, since AMT restarts its TLS listener. Only then do the admin credentials work for the
rest of the session.

The trust window (§5.4). Before the Setup commit the tunnel holds the device to its factory RCFG
chain (ODCA root). From the commit on, AMT 19+ presents a self-signed leaf it generated itself,
which no CA vouches for, until a TLS configuration is committed; the tunnel then verifies no
chain. What protects that window is the admin digest password: it was set inside the
ODCA-verified session, it never crosses the wire again (digest answers are nonce-bound hashes),
and without it nothing on the device can be changed. What it does not give is proof that the
peer is the device: the tunnel runs from the managed host's LMS on 127.0.0.1, so only something
already in control of that host could stand in for AMT there. Once RPS's own TLS configuration
is committed, every new session must present exactly the certificate RPS issued (pinning).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from activation.flows.acm import upgrade_to_acm
from activation.flows.ccm import CCM_FAILED, activate_ccm
from activation.flows.components import ComponentFailed, Pause, delay_timer
from activation.flows.deactivate import unprovision_once
from activation.flows.enterprise_certificates import describe
from activation.flows.ports import (
    DeviceSecretsPort,
    FlowResult,
    ProgressPort,
    StepOutcome,
    forget_unused_device_secret,
)
from activation.flows.tls import configure_tls_while_activating, mark_tls_configured
from activation.plan.activation_plan import ActivationPlan
from activation.plan.configuration_plan import TlsPlan
from activation.protocol.status import (
    ActivationStatus,
    Component,
    ComponentMode,
    ComponentResult,
    ComponentStatus,
    PlainStatus,
)
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, AmtUnauthorized
from activation.tunnel import tls_restart_timer
from activation.wsman import setup
from rps_site.sensitive import Secret

PHASE_ONE_STATUS: Final = "Client control mode (TLS activation Phase 1)."
COMMIT_CALL: Final = "AMT_SetupAndConfigurationService.CommitChanges"
ACM_ROLLED_BACK: Final = "{error}.ACM activation failed."
ROLLBACK_FAILED: Final = "Failed to deactivate device after ACM failure: {error}"
TLS_BETWEEN_PHASES_FAILED: Final = "Failed to configure TLS"


class TunnelControl(Protocol):
    """What the flow asks of the TLS tunnel (`activation.tunnel.TlsTunnelTransport`)."""

    def rebuild(self) -> None: ...

    def trust(self, verify_chain: Callable[[list[bytes]], object] | None) -> None: ...


async def _no_pause() -> None:
    return None


async def activate_ccm_tls_enforced(
    amt: AmtSession,
    tunnel: TunnelControl,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    local_password: Secret | None,
    pause: Pause = delay_timer,
    tls_pause: Pause = tls_restart_timer,
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

    await tls_pause()
    tunnel.rebuild()
    # Activated: AMT now presents its temporary self-signed leaf, so no chain is checked; the admin
    # digest password protects this window (§5.4, module docstring).
    tunnel.trust(None)
    await pause()
    if phase_one:
        status = result.status
        assert isinstance(status, ActivationStatus)
        status.status = PHASE_ONE_STATUS
    return result


async def activate_acm_tls_enforced(
    amt: AmtSession,
    tunnel: TunnelControl,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    local_password: Secret | None,
    pause: Pause = delay_timer,
    tls_pause: Pause = tls_restart_timer,
    tls: TlsPlan | None = None,
) -> FlowResult:
    """§5.5 "AMT 19+ ACM": Phase 1 (CCM, committed), TLS when `tls` is given (then a new tunnel
    session holding the device to the certificate just installed), the upgrade and its commit."""
    phase_one = await activate_ccm_tls_enforced(
        amt,
        tunnel,
        plan,
        secrets,
        progress,
        local_password=local_password,
        pause=pause,
        tls_pause=tls_pause,
        phase_one=True,
    )
    if not phase_one.succeeded:
        return phase_one
    await progress.report(PHASE_ONE_STATUS)

    if tls is not None:
        try:
            leaf = await configure_tls_while_activating(amt, tls, plan, secrets, progress, pause)
        except ComponentFailed as failure:
            phase_one.fail("configure TLS", f"{TLS_BETWEEN_PHASES_FAILED}: {failure.status_text}", failure.cause)
            return await _roll_back(amt, plan, secrets, phase_one)
        phase_one.record("configure TLS", StepOutcome.SUCCESS, f"between the phases, leaf pinned: {describe(leaf)}")
        await tls_pause()  # AMT restarts its TLS listener with the new certificate
        tunnel.rebuild()  # the next session must present the pinned leaf

    upgrade = await upgrade_to_acm(amt, plan, secrets, progress, current_password=plan.amt_password, pause=pause)
    if tls is not None:
        upgraded = upgrade.status
        assert isinstance(upgraded, ActivationStatus)
        mark_tls_configured(upgraded)
    result = FlowResult(status=upgrade.status, steps=phase_one.steps + upgrade.steps)
    if upgrade.succeeded and await _commit_upgrade(amt, result):
        result.succeeded = True
        return result
    return await _roll_back(amt, plan, secrets, result)


async def _commit_upgrade(amt: AmtSession, result: FlowResult) -> bool:
    try:
        outcome = await amt.call(setup.commit_changes())
    except CALL_ERRORS as error:
        result.record(COMMIT_CALL, StepOutcome.FAILURE, str(error))
        return False
    if not outcome.succeeded:
        result.record(COMMIT_CALL, StepOutcome.FAILURE, f"ReturnValue {outcome.return_value}")
        return False
    result.record(COMMIT_CALL, StepOutcome.SUCCESS)
    return True


async def _roll_back(
    amt: AmtSession, plan: ActivationPlan, secrets: DeviceSecretsPort, result: FlowResult
) -> FlowResult:
    """§5.5 ACM step 7: after Phase 1, a failed upgrade returns the device to pre-provisioning."""
    failed = next((step for step in reversed(result.steps) if step.outcome is StepOutcome.FAILURE), None)
    status = result.status
    assert isinstance(status, ActivationStatus)
    error = (status.status if status.status not in ("", "Failed") else None) or (
        failed.cause if failed else "ACM upgrade failed"
    )
    error = error.rstrip(".")
    rollback = FlowResult(status=PlainStatus("Failed"))
    unprovisioned = await unprovision_once(amt, rollback)
    result.steps.extend(rollback.steps)
    if not unprovisioned:
        # The device stays activated with the stored password: the secret is kept.
        result.fail("roll back", ROLLBACK_FAILED.format(error=error), rollback.steps[-1].cause)
    else:
        await forget_unused_device_secret(secrets, plan.device_guid, result)  # the device no longer uses it
        result.fail("ACM activation", ACM_ROLLED_BACK.format(error=error))
    status.components[Component.ACTIVATION] = ComponentStatus(
        ComponentResult.FAILURE, status.status.removesuffix("."), ComponentMode.ACM
    )
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
    except CALL_ERRORS as error:
        # The device may hold the new password: the stored secret is kept.
        result.fail(COMMIT_CALL, CCM_FAILED, str(error))
        return False
    if not outcome.succeeded:
        result.fail(COMMIT_CALL, CCM_FAILED, f"ReturnValue {outcome.return_value}")
        return False
    result.record(COMMIT_CALL, StepOutcome.SUCCESS)
    return True


__all__ = ["PHASE_ONE_STATUS", "TunnelControl", "activate_acm_tls_enforced", "activate_ccm_tls_enforced"]
