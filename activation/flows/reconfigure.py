"""An already activated device (`currentMode` 1 or 2) asked to activate again (protocol.md §4.3).

CCM device + ACM profile is the upgrade (`acm.upgrade_to_acm`, chosen in
`activation.plan.flow_choice`). Otherwise: log in as `admin` with
the working password, give the device the profile's admin password when it differs (staged in
Vault first, promoted once AMT confirms: `password_rotation`), and for ACM set the profile's MEBx
password. The legacy LMS TLS probe and the TLS state check of §4.3 steps 2 and 6 only route to the
TLS-tunnel flows and are not made here; the MPS tenant check (step 3) is the caller's.
"""

from __future__ import annotations

from activation.flows.ccm import read_general_settings
from activation.flows.components import Pause, delay_timer
from activation.flows.password_rotation import ensure_admin_password, set_mebx_password
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort
from activation.plan.activation_plan import ActivationPlan
from activation.protocol.activation_checks import ActivationStart
from activation.protocol.status import ActivationStatus, Component, ComponentMode, ComponentResult, ComponentStatus
from activation.session import AmtSession
from activation.wsman import setup
from devices.models import ControlMode
from profiles.models import ActivationMode
from rps_site.sensitive import Secret


async def reconfigure_activated(
    amt: AmtSession,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    current_password: Secret,
    pause: Pause = delay_timer,
) -> FlowResult:
    """`current_password`: the device's working admin password (Vault's `AMT_PASSWORD`, which the
    validation compared with the payload's). `amt` may have been opened with any credentials: it
    is switched to `admin` / `current_password` here."""
    start_mode = plan.device.payload.current_mode
    if start_mode is ControlMode.PRE_PROVISIONING or (
        start_mode is ControlMode.CLIENT and plan.mode is ActivationMode.ACM
    ):
        raise ValueError("not a reconfiguration: activation.plan.flow_choice.ACTIVATION_FLOWS names the flow")

    result = FlowResult(status=ActivationStatus(status="Failed"))
    if start_mode is ControlMode.ADMIN and (plan.mode is not ActivationMode.ACM or plan.mebx_password is None):
        # The validation refuses a CCM profile for an ACM device (§6.1); reaching here is a bug.
        return result.fail("plan", f"Device {plan.device_guid} already enabled in admin control mode.")

    amt.use_credentials(setup.ADMIN_USERNAME, current_password)
    settings = await read_general_settings(amt, result, "Failed")
    if settings is None:
        return result
    await progress.report("Device already activated")

    if not await ensure_admin_password(
        amt,
        device_guid=plan.device_guid,
        realm=settings.digest_realm,
        current_password=current_password,
        new_password=plan.amt_password,
        secrets=secrets,
        result=result,
    ):
        return result

    if plan.mode is ActivationMode.ACM and plan.mebx_password is not None:
        mebx = await set_mebx_password(
            amt, device_guid=plan.device_guid, mebx_password=plan.mebx_password, secrets=secrets, result=result
        )
        if not mebx.stored:
            return result.fail("save MEBx password", mebx.text)

    start = ActivationStart.RECONFIGURE_ACM if start_mode is ControlMode.ADMIN else ActivationStart.RECONFIGURE_CCM
    status = result.status
    assert isinstance(status, ActivationStatus)
    status.status = start.value
    status.components[Component.ACTIVATION] = ComponentStatus(
        ComponentResult.SUCCESS,
        start.value.removesuffix(".").capitalize(),
        ComponentMode.ACM if start_mode is ControlMode.ADMIN else ComponentMode.CCM,
    )
    result.succeeded = True
    return result
