"""SECURITY.md check 8 for activation: with Vault stopped, an activation ends with a clear error,
the device is never told a password nobody stored, and the run records why."""

from __future__ import annotations

import base64
import json

import pytest

from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import DeviceRequest
from activation.runner import DeviceSessionRunner
from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice
from devices.models import ProvisioningRun
from profiles.models import Profile
from rps_site.openbao_dev import start_dev_vault
from rps_site.vault import secret_store
from tests.activation.amtsim_link import InProcessDevice

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def activation_request(device: VirtualAmtDevice, profile: str, **payload_fields: object) -> DeviceRequest:
    message = parse_client_message(activation_frame(device, profile, **payload_fields), client_id="test")
    assert isinstance(message, DeviceRequest)
    return message


def activation_frame(device: VirtualAmtDevice, profile: str, **payload_fields: object) -> str:
    """The text frame rpc-go sends for `activate --profile <profile>` on this device."""
    identity = device.identity
    payload = {
        "ver": identity.amt_version,
        "build": identity.build,
        "sku": identity.sku,
        "features": identity.features,
        "uuid": identity.uuid,
        "username": "$$OsAdmin",
        "password": identity.local_system_password,
        "currentMode": 0,
        "hostname": identity.hostname,
        "fqdn": identity.dns_suffix,
        "client": "RPC",
        "certHashes": [],
        **payload_fields,
    }
    envelope = {
        "method": f"activate --profile {profile}",
        "apiKey": "key",
        "appVersion": "2.52.0",
        "protocolVersion": "4.0.0",
        "status": "ok",
        "message": "ok",
        "payload": base64.b64encode(json.dumps(payload).encode()).decode(),
        "tenantId": "",
    }
    return json.dumps(envelope)


@pytest.mark.parametrize(
    ("generated", "expected_text", "expected_cause"),
    [
        # The flow cannot store the new password (issue #12: the status names the cause).
        (
            True,
            "Failed to save device information to Secret Provider: the secret store is unavailable",
            "save device secret: secret store unavailable",
        ),
        # The plan cannot read the static one.
        (False, "Failed: the secret store is unavailable", "secret store unavailable"),
    ],
    ids=["generated-password", "static-password"],
)
async def test_activation_with_vault_stopped_fails_cleanly(  # type: ignore[no-untyped-def]
    settings, generated: bool, expected_text: str, expected_cause: str
) -> None:
    await Profile.objects.acreate(
        name="ccm-vault-down",
        activation="ccmactivate",
        generate_random_password=generated,
        version=1,
        dhcp_enabled=True,
    )
    stopped = start_dev_vault()
    stopped.stop()
    settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT_SECONDS = stopped.addr, stopped.root_token, 1
    secret_store.cache_clear()
    device = VirtualAmtDevice(DeviceIdentity())
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    try:
        runner = DeviceSessionRunner(
            activation_request(device, "ccm-vault-down"), InProcessDevice(device), send, client_address="127.0.0.1"
        )
        terminal = json.loads(await runner.execute())
    finally:
        secret_store.cache_clear()

    assert terminal["method"] == "error"
    status = json.loads(terminal["message"])
    assert status["Status"] == expected_text
    if generated:  # never "Activation not part of this configuration"
        assert status["Components"]["Activation"] == {"Result": "Failure", "Details": expected_text}
    assert device.state.control_mode == ControlMode.PRE_PROVISIONING
    assert "IPS_HostBasedSetupService.Setup" not in device.call_names
    run = await ProvisioningRun.objects.select_related("device").aget(device__guid=device.identity.uuid)
    assert run.outcome == "failure" and expected_cause in run.failure_cause
