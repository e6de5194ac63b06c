"""CCM activation and deactivation flows against the scripted device."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from activation.flows.ccm import activate_ccm
from activation.flows.deactivate import deactivate
from activation.flows.ports import StepOutcome
from activation.plan.activation_plan import ActivationPlan
from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import DeviceRequest
from activation.protocol.status import ActivationStatus
from activation.session import AmtSession
from profiles.models import ActivationMode
from rps_site.sensitive import Secret
from tests.activation.scripted_device import NO_ANSWER, Answer, ReceivedRequest, ScriptedDevice, chunked_http, ok

GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"
AMT_PASSWORD = "Gen3rated!Pass"


@dataclass
class RecordingSecrets:
    events: list[str] = field(default_factory=list)
    fail_write: bool = False

    async def write_initial(self, guid: str, amt_password: Secret, mebx_password: Secret | None) -> None:
        if self.fail_write:
            raise ConnectionError("vault down")
        self.events.append(f"write_initial {guid} {amt_password.reveal()}")

    async def write_pending(self, guid: str, amt_password: Secret) -> None:
        self.events.append("write_pending")

    async def promote_pending(self, guid: str) -> None:
        self.events.append("promote_pending")

    async def confirm_initial(self, guid: str, mode: int) -> None:
        self.events.append(f"confirm_initial {guid} {mode}")

    async def forget_initial(self, guid: str) -> None:
        self.events.append(f"forget_initial {guid}")


@dataclass
class RecordingProgress:
    texts: list[str] = field(default_factory=list)

    async def report(self, text: str) -> None:
        self.texts.append(text)


async def no_pause(delay: float = 0.0) -> None:
    return None


def plan() -> ActivationPlan:
    payload = {"ver": "16.1.27", "build": "2176", "uuid": GUID, "client": "RPC", "password": "x", "currentMode": 0}
    frame = json.dumps(
        {"method": "activate --profile office", "payload": base64.b64encode(json.dumps(payload).encode()).decode()}
    )
    request = parse_client_message(frame, client_id="c")
    assert isinstance(request, DeviceRequest)
    return ActivationPlan(
        profile_name="office",
        mode=ActivationMode.CCM,
        tenant_id="",
        device=request,
        amt_password=Secret(AMT_PASSWORD),
        password_generated=True,
    )


def session(device: ScriptedDevice) -> AmtSession:
    async def no_sleep(delay: float) -> None:
        return None

    return AmtSession(
        device, device_guid=GUID, username=device.username, password=Secret(device.password), sleep=no_sleep
    )


def setup_output(return_value: int) -> bytes:
    body = (
        '<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:g="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"><a:Body>'
        f"<g:Setup_OUTPUT><g:ReturnValue>{return_value}</g:ReturnValue></g:Setup_OUTPUT></a:Body></a:Envelope>"
    ).encode()
    return chunked_http("200 OK", body)


def host_based_setup(mode: int) -> bytes:
    body = (
        '<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:g="http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"><a:Body>'
        f"<g:IPS_HostBasedSetupService><g:CurrentControlMode>{mode}</g:CurrentControlMode>"
        "</g:IPS_HostBasedSetupService></a:Body></a:Envelope>"
    ).encode()
    return chunked_http("200 OK", body)


def lsa_device(*answers: Answer) -> ScriptedDevice:
    return ScriptedDevice(username="$$OsAdmin", password="LsaP@ss", answers=list(answers), realm="Digest:" + "A" * 32)


async def test_ccm_activation_stores_the_password_before_setup() -> None:
    secrets = RecordingSecrets()
    order: list[str] = []

    def answer_setup(request: ReceivedRequest) -> bytes:
        order.append(f"setup after {secrets.events}")
        return setup_output(0)

    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"), answer_setup)
    device.realm = "Digest:A4070000000000000000000000000000"
    progress = RecordingProgress()
    amt = session(device)
    result = await activate_ccm(amt, plan(), secrets, progress, pause=no_pause)
    assert result.succeeded, result.steps
    assert order == [f"setup after ['write_initial {GUID} {AMT_PASSWORD}']"]
    assert secrets.events[-1] == f"confirm_initial {GUID} 1", "a confirmed Setup marks the secret in use"
    assert amt.username == "admin"
    assert progress.texts == ["Activation completed"]
    assert isinstance(result.status, ActivationStatus) and result.status.status == "Client control mode."
    assert [step.name for step in result.steps] == [
        "AMT_GeneralSettings.Get",
        "save device secret",
        "IPS_HostBasedSetupService.Setup",
    ]
    assert AMT_PASSWORD not in repr(result)


async def test_vault_failure_leaves_the_device_untouched() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"))
    device.realm = "Digest:A4070000000000000000000000000000"
    result = await activate_ccm(
        session(device), plan(), RecordingSecrets(fail_write=True), RecordingProgress(), pause=no_pause
    )
    assert not result.succeeded
    assert result.status.status == "Failed to save device information to Secret Provider"
    assert "IPS_HostBasedSetupService.Setup" not in device.call_names


async def test_lost_setup_answer_is_resolved_by_reading_the_mode() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"), NO_ANSWER, host_based_setup(1))
    device.realm = "Digest:A4070000000000000000000000000000"
    secrets = RecordingSecrets()
    result = await activate_ccm(session(device), plan(), secrets, RecordingProgress(), pause=no_pause)
    assert result.succeeded
    assert device.call_names.count("IPS_HostBasedSetupService.Setup") == 1
    assert device.call_names[-1] == "IPS_HostBasedSetupService.Get"


async def test_refused_setup_forgets_the_unused_password() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"), setup_output(1))
    device.realm = "Digest:A4070000000000000000000000000000"
    secrets = RecordingSecrets()
    result = await activate_ccm(session(device), plan(), secrets, RecordingProgress(), pause=no_pause)
    assert not result.succeeded and result.status.status == "Failed to activate in client control mode."
    assert secrets.events[-1] == f"forget_initial {GUID}"
    assert result.steps[-1].outcome is StepOutcome.FAILURE and result.steps[-1].cause == "ReturnValue 1"


def unprovision_output(return_value: int) -> bytes:
    body = (
        '<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:g="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_SetupAndConfigurationService"><a:Body>'
        f"<g:Unprovision_OUTPUT><g:ReturnValue>{return_value}</g:ReturnValue></g:Unprovision_OUTPUT>"
        "</a:Body></a:Envelope>"
    ).encode()
    return chunked_http("200 OK", body)


async def test_deactivation_succeeds_only_with_return_value_zero() -> None:
    device = ScriptedDevice(username="admin", password=AMT_PASSWORD, answers=[unprovision_output(16)])
    refused = await deactivate(session(device))
    assert not refused.succeeded
    assert refused.status.as_json() == '{"Status":"Failed to deactivate: Unprovision returned 16"}'

    device = ScriptedDevice(username="admin", password=AMT_PASSWORD, answers=[unprovision_output(0)])
    done = await deactivate(session(device))
    assert done.succeeded and done.status.as_json() == '{"Status":"Deactivated"}'


async def test_deactivation_with_a_wrong_password() -> None:
    device = ScriptedDevice(username="admin", password=AMT_PASSWORD, answers=[unprovision_output(0)])
    amt = AmtSession(device, device_guid=GUID, username="admin", password=Secret("wrong"))
    result = await deactivate(amt)
    assert result.status.as_json() == '{"Status":"Unable to authenticate with AMT"}'
