"""An already activated device activated again (§4.3): rotation order, MEBx, upgrade dispatch."""

from __future__ import annotations

import pytest

from activation.flows.acm import upgrade_to_acm
from activation.flows.reconfigure import reconfigure_activated
from activation.protocol.status import ActivationStatus
from rps_site.sensitive import Secret
from tests.activation.flow_fakes import (
    AUTHORIZATION,
    RecordingProgress,
    RecordingSecrets,
    acm_plan,
    ccm_plan,
    host_based_setup,
    method_output,
    no_pause,
    session,
)
from tests.activation.scripted_device import Answer, ReceivedRequest, ScriptedDevice, ok

OLD = "0ld!Passw0rd"
NEW = "Gen3rated!Pass"
GENERAL_SETTINGS = "AMT_GeneralSettings_Get_AMT15_rps.xml"


def activated_device(*answers: Answer) -> ScriptedDevice:
    return ScriptedDevice(username="admin", password=OLD, answers=list(answers))


async def test_ccm_reconfiguration_rotates_the_password_in_order() -> None:
    secrets = RecordingSecrets()
    scripted = activated_device(ok(GENERAL_SETTINGS))
    seen: list[list[str]] = []

    def apply(request: ReceivedRequest) -> bytes:
        seen.append(list(secrets.events))
        scripted.password = NEW
        return ok("AMT_AuthorizationService_SetAdminAclEntryEx.xml")

    scripted.answers.append(apply)
    progress = RecordingProgress()
    amt = session(scripted, username="$$OsAdmin", password="whatever")
    result = await reconfigure_activated(
        amt, ccm_plan(current_mode=1, amt_password=NEW), secrets, progress, current_password=Secret(OLD)
    )
    assert result.succeeded, result.steps
    assert seen == [[f"write_pending {NEW}"]]
    assert secrets.events == [f"write_pending {NEW}", "promote_pending"]
    assert amt.username == "admin"
    assert progress.texts == ["Device already activated"]
    assert isinstance(result.status, ActivationStatus)
    assert result.status.status == "already enabled in client mode."
    assert '"Activation":{"Result":"Success","Mode":"CCM","Details":"Already enabled in client mode"}' in (
        result.status.as_json()
    )


async def test_acm_reconfiguration_with_the_same_password_only_sets_mebx() -> None:
    secrets = RecordingSecrets()
    scripted = activated_device(ok(GENERAL_SETTINGS), ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"))
    plan = acm_plan(current_mode=2, amt_password=OLD)
    result = await reconfigure_activated(
        session(scripted), plan, secrets, RecordingProgress(), current_password=Secret(OLD)
    )
    assert result.succeeded, result.steps
    assert scripted.call_names == ["AMT_GeneralSettings.Get", "AMT_SetupAndConfigurationService.SetMEBxPassword"]
    assert secrets.events == ["write_mebx_password Mebx!Pass1"]
    assert result.status.status == "already enabled in admin mode."


async def test_refused_rotation_fails_and_keeps_the_working_password() -> None:
    secrets = RecordingSecrets()
    scripted = activated_device(ok(GENERAL_SETTINGS), method_output(AUTHORIZATION, "SetAdminAclEntryEx", 1))
    result = await reconfigure_activated(
        session(scripted),
        ccm_plan(current_mode=1, amt_password=NEW),
        secrets,
        RecordingProgress(),
        current_password=Secret(OLD),
    )
    assert not result.succeeded
    assert result.status.status == "Failed to change the AMT password: ReturnValue PT_STATUS_INTERNAL_ERROR"
    assert secrets.events == [f"write_pending {NEW}"]


async def test_ccm_device_with_acm_profile_is_upgraded_not_reconfigured() -> None:
    with pytest.raises(ValueError, match="not a reconfiguration"):
        await reconfigure_activated(
            session(activated_device()),
            acm_plan(current_mode=1, amt_password=OLD),
            RecordingSecrets(),
            RecordingProgress(),
            current_password=Secret(OLD),
        )
    scripted = activated_device(ok(GENERAL_SETTINGS), host_based_setup(2))
    scripted.answers.append(ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"))
    result = await upgrade_to_acm(  # what activation.plan.flow_choice names for this case
        session(scripted),
        acm_plan(current_mode=1, amt_password=OLD),
        RecordingSecrets(),
        RecordingProgress(),
        current_password=Secret(OLD),
        pause=no_pause,
    )
    assert result.succeeded, result.steps
    assert result.status.status == "Upgraded to admin control mode."
    assert "IPS_HostBasedSetupService.Get" in scripted.call_names
