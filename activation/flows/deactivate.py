"""Deactivation, CCM and ACM alike (protocol.md §4.11 with correction 13): Unprovision must
return 0 before the device's secret is destroyed. The MPS record deletion is the caller's."""

from __future__ import annotations

from activation.flows.ports import DeviceSecretsPort, FlowResult, StepOutcome
from activation.protocol import PlainStatus
from activation.session import AmtSession, AmtSessionError
from activation.wsman import setup
from activation.wsman.response import WsmanFault, WsmanParseError

UNKNOWN_ERROR = "Unknown error has occured"  # [sic], upstream's text


async def deactivate(amt: AmtSession, device_guid: str, secrets: DeviceSecretsPort) -> FlowResult:
    """`amt` authenticates as `admin` with the payload's password (correction 19)."""
    result = FlowResult(status=PlainStatus("Failed"))
    try:
        outcome = await amt.call(setup.unprovision(1))
    except AmtSessionError as error:
        return result.fail("AMT_SetupAndConfigurationService.Unprovision", error.failure_text, str(error))
    except WsmanFault as fault:
        return result.fail("AMT_SetupAndConfigurationService.Unprovision", "Bad Request", str(fault))
    except WsmanParseError as error:
        return result.fail("AMT_SetupAndConfigurationService.Unprovision", UNKNOWN_ERROR, str(error))
    if not outcome.succeeded:
        return result.fail(
            "AMT_SetupAndConfigurationService.Unprovision",
            f"Failed to deactivate: Unprovision returned {outcome.return_value}",
        )
    result.record("AMT_SetupAndConfigurationService.Unprovision", StepOutcome.SUCCESS)

    try:
        await secrets.destroy(device_guid)
    except Exception as error:
        return result.fail(
            "destroy device secret", "Failed to remove device from secret provider", type(error).__name__
        )
    result.record("destroy device secret", StepOutcome.SUCCESS)
    result.status = PlainStatus("Deactivated")
    result.succeeded = True
    return result
