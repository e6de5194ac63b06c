"""CCM activation of a device in pre-provisioning, plain path (protocol.md §4.1 steps 3-8).

The generated password reaches Vault before the device is told to use it (DESIGN.md "Nothing
half-written"), and Setup is sent exactly once (correction 2): when its answer is lost, the
control mode read from the device decides.
"""

from __future__ import annotations

from activation.flows.components import Pause, delay_timer
from activation.flows.ports import (
    DeviceSecretsPort,
    FlowResult,
    ProgressPort,
    StepOutcome,
    forget_unused_device_secret,
    store_initial_secret,
)
from activation.plan.activation_plan import ActivationPlan
from activation.protocol.status import ActivationStatus, Component, ComponentMode, ComponentResult, ComponentStatus
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, AmtSessionError, NonIdempotentCallUnconfirmed
from activation.unexpected_failures import unexpected_failure
from activation.wsman import setup
from activation.wsman.call import MethodResult, WsmanCall
from activation.wsman.response import WsmanFault, WsmanParseError
from activation.wsman.setup import GeneralSettings
from devices.models import ControlMode

CCM_FAILED = "Failed to activate in client control mode."


async def send_setup_once(
    amt: AmtSession,
    call: WsmanCall[MethodResult],
    *,
    reached_mode: ControlMode,
    failure_text: str,
    secrets: DeviceSecretsPort,
    device_guid: str,
    result: FlowResult,
) -> bool:
    """Setup or AdminSetup, sent exactly once (correction 2, §3.6). A lost answer is settled by
    the control mode the device reports. A definite refusal (a SOAP fault, a non-zero
    ReturnValue, the mode not reached) forgets the passwords stored for it: the device never used
    them; a confirmed one marks them in use. False when `result` has failed."""
    try:
        outcome = await amt.call(call)
        applied = outcome.succeeded
        cause = "" if applied else f"ReturnValue {outcome.return_value}"
    except NonIdempotentCallUnconfirmed as lost:
        result.record(call.name, StepOutcome.FAILURE, str(lost))
        try:
            state = await amt.call(setup.get_host_based_setup())
        except CALL_ERRORS as error:
            # Outcome unknown: keep the stored passwords, the device may be using them.
            result.fail("IPS_HostBasedSetupService.Get", failure_text, str(error))
            return False
        applied = state.current_control_mode == reached_mode
        cause = f"CurrentControlMode {state.current_control_mode}"
    except WsmanFault as fault:
        await forget_unused_device_secret(secrets, device_guid, result)
        result.fail(call.name, failure_text, str(fault))
        return False
    except (AmtSessionError, WsmanParseError) as error:
        result.fail(call.name, failure_text, str(error))
        return False
    if not applied:
        await forget_unused_device_secret(secrets, device_guid, result)
        result.fail(call.name, failure_text, cause)
        return False
    result.record(call.name, StepOutcome.SUCCESS, cause)
    try:
        await secrets.confirm_initial(device_guid, reached_mode)
    except Exception as error:  # recorded; the run's successful end confirms it again
        result.record("confirm device secret in use", StepOutcome.FAILURE, unexpected_failure(error))
    return True


async def activate_ccm(
    amt: AmtSession,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    pause: Pause = delay_timer,
) -> FlowResult:
    result = FlowResult(status=ActivationStatus(status="Failed"))

    settings = await read_general_settings(amt, result, CCM_FAILED)
    if settings is None:
        return result

    if not await store_initial_secret(secrets, plan.device_guid, plan.amt_password, None, result):
        return result

    password_hash = setup.admin_password_hash(settings.digest_realm, plan.amt_password)
    if not await send_setup_once(
        amt,
        setup.setup(password_hash),
        reached_mode=ControlMode.CLIENT,
        failure_text=CCM_FAILED,
        secrets=secrets,
        device_guid=plan.device_guid,
        result=result,
    ):
        return result

    await pause()
    amt.use_credentials(setup.ADMIN_USERNAME, plan.amt_password)
    await progress.report("Activation completed")

    status = result.status
    assert isinstance(status, ActivationStatus)
    status.status = "Client control mode."
    status.components[Component.ACTIVATION] = ComponentStatus(
        ComponentResult.SUCCESS, "Client control mode", ComponentMode.CCM
    )
    result.succeeded = True
    return result


async def read_general_settings(amt: AmtSession, result: FlowResult, failure_text: str) -> GeneralSettings | None:
    """AMT_GeneralSettings.Get: the digest realm every password hash needs. None once `result` failed."""
    try:
        settings = await amt.call(setup.get_general_settings())
    except CALL_ERRORS as error:
        result.fail("AMT_GeneralSettings.Get", getattr(error, "failure_text", failure_text), str(error))
        return None
    if not settings.has_valid_digest_realm:
        result.fail("AMT_GeneralSettings.Get", "Not a valid digest realm.")
        return None
    result.record("AMT_GeneralSettings.Get", StepOutcome.SUCCESS)
    result.general_settings = settings
    return settings
