"""The runner in process, with real Vault and PostgreSQL, where a session ends early: a client that
never acknowledges `port_switch` (`--tls-tunnel` on AMT 11-18, protocol.md §5.5), and a client
that disconnects mid-flow."""

from __future__ import annotations

import asyncio
import json

import pytest
from cryptography.hazmat.primitives import serialization

from activation.runner import DeviceSessionRunner
from activation.tunnel import PortSwitchingTransport, TlsTunnelTransport
from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice
from devices.models import ProvisioningRun
from profiles.models import Profile
from rps_site.sensitive import Secret
from rps_site.vault import MPS_CERTIFICATES_PATH, device_path
from tests.activation.amtsim_link import InProcessDevice
from tests.activation.test_runner_fail_closed import activation_request
from tests.ca_certificates import self_signed_ca

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def mps_certificates(vault):  # type: ignore[no-untyped-def]
    ca, key = self_signed_ca("MPSRoot-tunnel")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    vault.destroy(MPS_CERTIFICATES_PATH)
    vault.create(
        MPS_CERTIFICATES_PATH,
        {"root_key": Secret(key_pem), "root_ca": Secret(ca.public_bytes(serialization.Encoding.PEM).decode())},
    )
    yield vault
    vault.destroy(MPS_CERTIFICATES_PATH)


async def test_an_unacknowledged_port_switch_ends_the_session_with_upstreams_text(  # type: ignore[no-untyped-def]
    mps_certificates, settings, monkeypatch
) -> None:
    monkeypatch.setattr("activation.tunnel.PORT_SWITCH_ACK_GRACE", 0.2)  # upstream waits delay + 60 s
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    await Profile.objects.acreate(
        name="ccm-tunnel", activation="ccmactivate", generate_random_password=True, version=1, dhcp_enabled=True
    )
    device = VirtualAmtDevice(DeviceIdentity(amt_version="16.1.25"))
    request = activation_request(device, "ccm-tunnel", tlsTunnel=True)
    assert request.switches_to_tls_tunnel
    sent: list[dict[str, str]] = []

    async def send(text: str) -> None:
        sent.append(json.loads(text))

    # The plain relay is amtsim in process; the client behind `send` never answers port_switch.
    relay = PortSwitchingTransport(InProcessDevice(device), TlsTunnelTransport(send, verify_chain=None))  # type: ignore[arg-type]
    terminal = json.loads(await DeviceSessionRunner(request, relay, send, client_address="127.0.0.1").execute())

    assert [message["method"] for message in sent if message["method"] == "port_switch"] == ["port_switch"]
    switch = next(message for message in sent if message["method"] == "port_switch")
    assert json.loads(switch["payload"]) == {"port": "16993", "delay": 2}
    assert terminal["method"] == "error"
    assert json.loads(terminal["message"])["Status"] == "Failed to complete port switch to TLS"
    # Activated and given TLS before the switch: its password is stored, its TLS committed.
    assert device.state.control_mode == ControlMode.CCM and device.state.tls_committed
    stored = mps_certificates.read(device_path(device.identity.uuid))
    assert stored is not None and stored.get("AMT_PASSWORD") and stored.get("TLS_ISSUED_CERTIFICATE")
    run = await ProvisioningRun.objects.select_related("device").aget(device__guid=device.identity.uuid)
    assert run.outcome == "failure" and run.failure_cause.startswith("port_switch")


class StallsAt(InProcessDevice):
    """amtsim in process, until the first request for `call`: that one is never answered."""

    def __init__(self, device: VirtualAmtDevice, call: bytes) -> None:
        super().__init__(device)
        self.call = call
        self.reached = asyncio.Event()

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        if self.call in http_request:
            self.reached.set()
            await asyncio.Event().wait()
        return await super().exchange(http_request, timeout=timeout)


async def test_a_session_cut_short_still_records_the_steps_its_flow_had_done(  # type: ignore[no-untyped-def]
    vault, settings
) -> None:
    """The client disconnects during the configuration (at the AMT features, after the network):
    the run keeps the configuration steps done so far, though that flow never returned them."""
    settings.RETRY_DELAY = settings.DELAY_TIMER = 0
    await Profile.objects.acreate(
        name="ccm-cut", activation="ccmactivate", generate_random_password=True, version=1, dhcp_enabled=True
    )
    device = VirtualAmtDevice(DeviceIdentity())
    link = StallsAt(device, b"AMT_RedirectionService")

    async def send(_: str) -> None:
        return None

    runner = DeviceSessionRunner(activation_request(device, "ccm-cut"), link, send, client_address="127.0.0.1")
    session = asyncio.create_task(runner.execute())
    await asyncio.wait_for(link.reached.wait(), 30)
    session.cancel()  # what the consumer does when the socket closes
    with pytest.raises(asyncio.CancelledError):
        await session

    run = await ProvisioningRun.objects.select_related("device").aget(device__guid=device.identity.uuid)
    assert run.outcome == "failure" and run.failure_cause == "client disconnected"
    steps = [(step.name, step.outcome) async for step in run.steps.order_by("position")]
    assert steps[0] == ("resolve plan", "success")
    assert ("IPS_HostBasedSetupService.Setup", "success") in steps
    assert ("configure WiredNetwork", "success") in steps
    # Setup was confirmed before the cut: the registry says what the device is, bound and in use.
    assert device.state.control_mode == ControlMode.CCM
    assert (run.device.status, run.device.control_mode, run.device.tenant_id, run.device.credential) == (
        "activated",
        1,
        "",
        "confirmed",
    )
