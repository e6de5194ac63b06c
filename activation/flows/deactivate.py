"""Deactivation, CCM and ACM alike (protocol.md §4.11 with correction 13): Unprovision must
return 0. Unprovision is sent once, like Setup: when its answer is lost, the device's state
decides. What deactivation changes in Vault, MPS and the registry is the caller's, and only for
a request that proved it knows the stored password (README "What the device channel trusts")."""

from __future__ import annotations

from activation.flows.ports import FlowResult, StepOutcome
from activation.protocol.status import PlainStatus
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, AmtSessionError, AmtUnauthorized, NonIdempotentCallUnconfirmed
from activation.wsman import setup
from activation.wsman.response import WsmanFault, WsmanParseError
from devices.models import ControlMode

UNKNOWN_ERROR = "Unknown error has occured"  # [sic], upstream's text
DEACTIVATED = "Deactivated"


async def deactivate(amt: AmtSession) -> FlowResult:
    """`amt` authenticates as `admin` with the payload's password (correction 19)."""
    result = FlowResult(status=PlainStatus("Failed"))
    if not await unprovision_once(amt, result):
        return result
    result.status = PlainStatus(DEACTIVATED)
    result.succeeded = True
    return result


async def unprovision_once(amt: AmtSession, result: FlowResult) -> bool:
    """Unprovision, sent once. False (the failure in `result`) unless the device is known to be
    back in pre-provisioning."""
    call = setup.unprovision(1)
    try:
        outcome = await amt.call(call)
    except NonIdempotentCallUnconfirmed as lost:
        result.record(call.name, StepOutcome.FAILURE, str(lost))
        return await _unprovisioned_after_all(amt, result)
    except AmtSessionError as error:
        result.fail(call.name, error.failure_text, str(error))
        return False
    except WsmanFault as fault:
        result.fail(call.name, "Bad Request", str(fault))
        return False
    except WsmanParseError as error:
        result.fail(call.name, UNKNOWN_ERROR, str(error))
        return False
    if not outcome.succeeded:
        result.fail(call.name, f"Failed to deactivate: Unprovision returned {outcome.return_value}")
        return False
    result.record(call.name, StepOutcome.SUCCESS)
    return True


async def _unprovisioned_after_all(amt: AmtSession, result: FlowResult) -> bool:
    """Unprovision's answer was lost. The admin account exists only while AMT is activated: a
    device that now refuses the admin login Unprovision was sent with has unprovisioned; one that
    answers reports its control mode."""
    read = setup.get_host_based_setup()
    try:
        state = await amt.call(read)
    except AmtUnauthorized:
        result.record(read.name, StepOutcome.SUCCESS, "the admin account is gone: unprovisioned")
        return True
    except CALL_ERRORS as error:
        # Unknown: nothing is forgotten about a device that may still be activated.
        result.fail(read.name, UNKNOWN_ERROR, f"Unprovision unconfirmed: {error}")
        return False
    if state.current_control_mode == ControlMode.PRE_PROVISIONING:
        result.record(read.name, StepOutcome.SUCCESS, "CurrentControlMode 0")
        return True
    result.fail(read.name, UNKNOWN_ERROR, f"Unprovision not applied: CurrentControlMode {state.current_control_mode}")
    return False
