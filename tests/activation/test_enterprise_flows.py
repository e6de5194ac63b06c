"""The Enterprise Assistant flows' own decisions (activation/flows/enterprise_*.py), in process: an
amtsim device behind the in-process link, the real exchange over the in-memory channel layer, and
the EA's socket played by Channels' communicator answering as the current EA does.
(tests/e2e/test_enterprise_assistant_activation.py runs whole activations over WSS.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from activation.enterprise_assistant.consumers import EnterpriseAssistantConsumer
from activation.flows.components import ComponentFailed, ConfigurationReport
from activation.flows.enterprise_8021x import configure_wired_with_enterprise_assistant
from activation.flows.enterprise_certificates import EnterpriseAssistantScope
from activation.plan.configuration_plan import Ieee8021xPlan
from activation.protocol.status import ActivationStatus
from amtsim import ControlMode, Fault, VirtualAmtDevice
from rps_site.sensitive import Secret
from tests.activation.amtsim_link import admin_session
from tests.activation.enterprise_assistant_helpers import EaAnswers, meshauth

PASSWORD = "P@ssw0rd-flows"
CORP = ("ea-corp", "corp-password-0123456789")
TLS = {"asgi": {"version": "3.0", "spec_version": "2.3"}, "extensions": {"tls": {}}}
Reply = Callable[[dict[str, Any]], dict[str, Any] | None]


@pytest.fixture(autouse=True)
def assistant_settings(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.EA_ACCOUNTS = {CORP[0]: (Secret(CORP[1]), "")}
    settings.EA_ALLOW_ANONYMOUS = False
    settings.EA_TIMEOUT = 2.0


class PlayedAssistant:
    """An EA connection that answers every request with `reply(request)` (None: stays silent)."""

    def __init__(self, communicator: WebsocketCommunicator, answers: EaAnswers) -> None:
        self.communicator = communicator
        self.answers = answers
        self.received: list[dict[str, Any]] = []
        self.changes: dict[str, Reply] = {}

    def reply(self, request: dict[str, Any]) -> dict[str, Any] | None:
        subaction = request["subaction"]
        if subaction in self.changes:
            return self.changes[subaction](request)
        if subaction == "802.1x-ProFile-Request":
            return self.answers.peap(request) if request["authProtocol"] == 2 else request
        if subaction == "802.1x-KeyPair-Response":
            return self.answers.csr_request(request)
        return self.answers.issued(request)

    async def serve(self) -> None:
        while True:
            request = json.loads(await self.communicator.receive_from(timeout=30))
            self.received.append(request)
            answer = self.reply(request)
            if answer is not None:
                await self.communicator.send_to(text_data=json.dumps(answer))


@pytest.fixture
async def ea() -> AsyncIterator[PlayedAssistant]:
    communicator = WebsocketCommunicator(
        EnterpriseAssistantConsumer.as_asgi(), "/ea", headers=[(b"x-meshauth", meshauth(*CORP))]
    )
    communicator.scope.update(TLS)
    connected, _ = await communicator.connect()
    assert connected
    played = PlayedAssistant(communicator, EaAnswers())
    task = asyncio.ensure_future(played.serve())
    yield played
    task.cancel()
    await communicator.disconnect()


def wired(protocol: int) -> Ieee8021xPlan:
    return Ieee8021xPlan(
        name="wired1x",
        authentication_protocol=protocol,
        username="",
        password=None,
        pxe_timeout=120,
        enterprise_assistant=True,
    )


async def configure(device: VirtualAmtDevice, protocol: int) -> tuple[str, ConfigurationReport]:
    amt, _ = admin_session(device, PASSWORD)
    report = ConfigurationReport(ActivationStatus("Client control mode."))
    scope = EnterpriseAssistantScope(tenant_id="", device_name="desktop-01")
    return await configure_wired_with_enterprise_assistant(amt, wired(protocol), scope, report), report


def activated() -> VirtualAmtDevice:
    return VirtualAmtDevice.activated(mode=ControlMode.CCM, admin_password=PASSWORD)


async def test_a_certificate_reply_without_username_uses_the_certificates_cn(ea: PlayedAssistant) -> None:
    """S14: upstream writes no Username (AMT's Wi-Fi call refuses that); the subject CN is the
    identity EAP-TLS presents anyway."""

    def without_username(request: dict[str, Any]) -> dict[str, Any]:
        reply = ea.answers.issued(request)
        del reply["response"]["username"]
        return reply

    ea.changes["802.1x-CSR-Response"] = without_username
    device = activated()
    summary, report = await configure(device, 0)
    assert device.state.ieee8021x.get("Username") == "desktop-01"  # CN=<devname>, from the EA's CSR
    assert summary.startswith("EAP-TLS certificate subject CN=desktop-01, serial ")
    assert [step.name for step in report.steps] == ["802.1X certificate for wired"]


@pytest.mark.parametrize(
    ("call", "text", "ea_requests"),
    [
        ("AMT_PublicKeyManagementService.GenerateKeyPair", "Failed to generate key pair in 802.1x", 1),
        ("AMT_PublicKeyManagementService.GeneratePKCS10RequestEx", "Failed to have AMT sign CSR in 802.1x", 2),
        ("AMT_PublicKeyManagementService.AddCertificate", "Failed to add certificate in 802.1x", 3),
        (
            "AMT_PublicKeyManagementService.AddTrustedRootCertificate",
            "Failed to add radius server root certificate in 802.1x",
            3,
        ),
        ("IPS_IEEE8021xSettings.SetCertificates", "Failed to set certificate in 802.1x", 3),
    ],
)
async def test_every_return_value_is_checked(ea: PlayedAssistant, call: str, text: str, ea_requests: int) -> None:
    """B9: upstream reads no ReturnValue here, and a missing handle becomes `undefined` later."""
    device = activated()
    device.faults.add(Fault.return_value(call=call, value=36))
    with pytest.raises(ComponentFailed) as failure:
        await configure(device, 0)
    assert (failure.value.status_text, failure.value.cause) == (text, "ReturnValue 36")
    assert len(ea.received) == ea_requests  # the exchange stops where AMT did


async def test_generate_key_pair_is_never_sent_twice(ea: PlayedAssistant) -> None:
    """B11: a slow RSA generation must not leave a second key pair in AMT."""
    device = activated()
    device.faults.add(Fault.silent(call="AMT_PublicKeyManagementService.GenerateKeyPair"))
    with pytest.raises(ComponentFailed) as failure:
        await configure(device, 0)
    assert failure.value.status_text == "Failed to generate key pair in 802.1x"
    assert device.call_names.count("AMT_PublicKeyManagementService.GenerateKeyPair") == 1


async def test_peap_reuses_a_root_amt_already_holds_and_links_it(ea: PlayedAssistant) -> None:
    """§5.3/Q4: never the same root twice; B8: PEAP links it as the RADIUS server's issuer."""
    device = activated()
    await configure(device, 2)
    roots = [stored for stored in device.state.certificates if stored.trusted_root]
    assert len(roots) == 1 and roots[0].certificate == ea.answers.ca.root
    await configure(device, 2)  # a second run, as a reconfiguration would
    assert [stored.instance_id for stored in device.state.certificates if stored.trusted_root] == [roots[0].instance_id]
    assert device.state.ieee8021x_certificates == {"ServerCertificateIssuer": roots[0].instance_id}


async def test_the_peap_password_goes_to_the_device_and_nowhere_in_the_report(ea: PlayedAssistant) -> None:
    device = activated()
    summary, report = await configure(device, 2)
    given = "q3T/9xK+2bLm0PzR7sVa"  # EaAnswers.peap's
    assert device.state.ieee8021x.get("Password") == given and device.state.ieee8021x.get("Username") == (
        "iME$desktop-01$"
    )
    assert summary.startswith("PEAP account iME$desktop-01$, RADIUS root subject ")
    assert given not in summary and given not in repr(report.steps)


async def test_a_peap_reply_without_its_account_is_a_named_failure(ea: PlayedAssistant) -> None:
    """B6: upstream's activation dies without a terminal message here; S15's text instead."""
    ea.changes["802.1x-ProFile-Request"] = lambda request: {**request, "subaction": "Profile-Completed"}
    with pytest.raises(ComponentFailed) as failure:
        await configure(activated(), 2)
    assert failure.value.status_text == "Failed to add radius server root certificate in 802.1x"
    assert "no response object" in failure.value.cause


async def test_the_element_name_is_set_not_appended(ea: PlayedAssistant) -> None:
    """B14: repeated configuration does not grow `... wired1x wired1x`."""
    device = activated()
    await configure(device, 2)
    await configure(device, 2)
    assert device.state.ieee8021x.get("ElementName") == "Intel(r) AMT: 8021X Settings wired1x"
