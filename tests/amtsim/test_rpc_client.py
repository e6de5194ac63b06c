"""The rpc-go-compatible client against a scripted RPS and a virtual device."""

from __future__ import annotations

import base64
import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from amtsim.digest import admin_password_hash
from amtsim.rpc import parse_command_line
from tests.amtsim.rps_double import get, method, params
from tests.amtsim.scripted_rps import RpsConversation, scripted_rps, server_message

CCM_PASSWORD = "Str0ng!Passw0rd"


async def ccm_activation(rps: RpsConversation) -> None:
    """§4.1 steps 3–6, as a server would run them."""
    settings = await rps.call(get("AMT_GeneralSettings"))
    assert settings is not None and settings.status == 200
    realm = settings.find("DigestRealm")
    assert realm
    setup = method(
        "IPS_HostBasedSetupService",
        "Setup",
        params(
            NetAdminPassEncryptionType="2", NetworkAdminPassword=admin_password_hash(realm=realm, password=CCM_PASSWORD)
        ),
    )
    answer = await rps.call(setup, timeout=1.0)
    if answer is None or answer.find("ReturnValue") != "0":
        await rps.finish("error", {"Status": "Failed to activate in client control mode."})
        return
    await rps.finish("success", {"Status": "Client control mode.", "Network": "Wired Network Configured"})


def _identity() -> DeviceIdentity:
    return DeviceIdentity(
        uuid="4C4C4544-0046-3610-8052-B5C04F4C5032",
        amt_version="16.1.27",
        build="2176",
        sku="16392",
        hostname="desktop-01",
        dns_suffix="vprodemo.com.",
        trusted_root_hashes=["E7685634EFACF69ACE939A6B255B7B4FABEF42935B50A265ACB5CB6027E44E70"],
    )


async def test_activate_ccm_end_to_end() -> None:
    device = VirtualAmtDevice(_identity())
    async with serve_device(device) as endpoint, scripted_rps(ccm_activation) as rps:
        result = await run_rpc(
            ["activate", "-u", rps.url, "-profile", "officeCCM", "-tenant", "t1"], device_endpoint=endpoint
        )
    assert rps.errors == []
    assert result.exit_code == 0, result
    assert result.outcome == "success"
    assert result.status_text == "Client control mode."
    assert device.state.control_mode is ControlMode.CCM
    assert device.state.admin_password_matches(CCM_PASSWORD)
    conversation = rps.conversations[0]
    first = conversation.first
    assert first["method"] == "activate --profile officeCCM"
    assert first["tenantId"] == "t1"
    assert (first["apiKey"], first["protocolVersion"], first["status"], first["message"], first["fqdn"]) == (
        "key",
        "4.0.0",
        "ok",
        "ok",
        "",
    )
    payload = conversation.device_payload
    assert payload == {
        "ver": "16.1.27",
        "build": "2176",
        "sku": "16392",
        "features": "AMT Pro Corporate",
        "uuid": "4c4c4544-0046-3610-8052-b5c04f4c5032",
        "username": "$$OsAdmin",
        "password": device.identity.local_system_password,
        "currentMode": 0,
        "hostname": "desktop-01",
        "fqdn": "vprodemo.com",
        "client": "RPC",
        "certHashes": ["e7685634efacf69ace939a6b255b7b4fabef42935b50a265acb5cb6027e44e70"],
        "ipConfiguration": {
            "dhcp": False,
            "static": False,
            "ipsync": False,
            "ipAddress": "",
            "netmask": "",
            "gateway": "",
            "primaryDns": "",
            "secondaryDns": "",
        },
        "hostnameInfo": {"dnsSuffixOS": "", "hostname": ""},
        "progressSupported": True,
    }
    responses = [message for message in conversation.received if message["method"] == "response"]
    assert all(message["tenantId"] == "" for message in responses)
    first_answer = base64.b64decode(responses[0]["payload"])
    assert first_answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n")


async def test_error_message_exits_non_zero_with_status() -> None:
    async def refuse(rps: RpsConversation) -> None:
        await rps.finish(
            "error", "Device 4c4c4544 activation failed. p1 does not match list of available AMT profiles."
        )

    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint, scripted_rps(refuse) as rps:
        result = await run_rpc(["activate", "-u", rps.url, "-profile", "p1"], device_endpoint=endpoint)
    assert result.exit_code == 1
    assert result.outcome == "error"
    assert result.status is None  # plain text, not JSON
    assert (
        result.error
        == "rps returned error: Device 4c4c4544 activation failed. p1 does not match list of available AMT profiles."
    )


async def test_heartbeat_is_echoed_and_progress_recorded() -> None:
    async def heartbeat_then_fail(rps: RpsConversation) -> None:
        await rps.websocket.send(server_message("heartbeat_request", payload=""))
        echo = await rps.receive()
        assert echo is not None
        assert echo["method"] == "heartbeat_response"
        assert echo["status"] == "success"
        await rps.websocket.send(server_message("progress", message="Starting provisioning"))
        await rps.finish("error", {"Status": "Failed"})

    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint, scripted_rps(heartbeat_then_fail) as rps:
        result = await run_rpc(["activate", "-u", rps.url, "-profile", "p1"], device_endpoint=endpoint)
    assert rps.errors == []
    assert result.heartbeats == 1
    assert result.progress == ["Starting provisioning"]
    assert result.exit_code == 1
    assert result.status_text == "Failed"


async def test_connection_dropped_before_terminal_message() -> None:
    async def hang_up(rps: RpsConversation) -> None:
        await rps.websocket.close()

    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint, scripted_rps(hang_up) as rps:
        result = await run_rpc(["activate", "-u", rps.url, "-profile", "p1"], device_endpoint=endpoint)
    assert result.outcome is None
    assert result.exit_code == 2
    assert result.error == "rps connection closed unexpectedly"


async def test_silent_device_means_no_response_message() -> None:
    device = VirtualAmtDevice()
    device.faults.add(Fault.silent(call="IPS_HostBasedSetupService.Setup", hold_seconds=1.0))
    async with serve_device(device) as endpoint, scripted_rps(ccm_activation) as rps:
        result = await run_rpc(
            ["activate", "-u", rps.url, "-profile", "p1"], device_endpoint=endpoint, first_byte_timeout=0.3
        )
    assert result.exit_code == 1
    assert result.status_text == "Failed to activate in client control mode."
    assert result.silent_rounds == 1
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING


async def test_deactivate_sends_password_and_force() -> None:
    async def record(rps: RpsConversation) -> None:
        await rps.finish("success", {"Status": "Deactivated"})

    device = VirtualAmtDevice.activated(admin_password="P@ssw0rd1")
    async with serve_device(device) as endpoint, scripted_rps(record) as rps:
        result = await run_rpc(["deactivate", "-u", rps.url, "-password", "P@ssw0rd1", "-f"], device_endpoint=endpoint)
    assert result.exit_code == 0
    first = rps.conversations[0]
    assert first.first["method"] == "deactivate --password P@ssw0rd1 -f"
    assert first.device_payload["password"] == "P@ssw0rd1"
    assert first.device_payload["currentMode"] == 1


async def test_activated_device_needs_a_password() -> None:
    device = VirtualAmtDevice.activated(admin_password="P@ssw0rd1")
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", "ws://127.0.0.1:1/activate", "-profile", "p1"], device_endpoint=endpoint
        )
    assert result.exit_code == 2
    assert result.error is not None and "password" in result.error


@pytest.mark.parametrize(
    ("argv", "method_string"),
    [
        (
            ["maintenance", "syncclock", "-u", "wss://s/activate", "-password", "pw"],
            "maintenance -password pw --synctime",
        ),
        (
            ["maintenance", "syncip", "-u", "wss://s/activate", "-password", "pw", "-f"],
            "maintenance -password pw --syncip -f",
        ),
        (
            ["maintenance", "changepassword", "-u", "wss://s/activate", "-password", "pw", "-static", "N3w!pass"],
            "maintenance -password pw --changepassword N3w!pass",
        ),
        (["activate", "--url=wss://s/activate", "--profile", "acm", "--skip-cert-check"], "activate --profile acm"),
        (["deactivate", "-u", "ws://s/x", "--password", "pw"], "deactivate --password pw"),
    ],
)
def test_rpc_go_command_lines(argv: list[str], method_string: str) -> None:
    assert parse_command_line(argv).method_string() == method_string


@pytest.mark.parametrize(
    "argv",
    [
        ["activate", "-profile", "p"],
        ["activate", "-u", "https://s/activate", "-profile", "p"],
        ["activate", "-u", "ws://s/", "-bogus"],
        ["maintenance", "reboot", "-u", "ws://s/"],
        ["activate", "-u", "ws://s/"],
    ],
)
def test_rejected_command_lines(argv: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_command_line(argv)


async def test_maintenance_payloads_carry_ip_and_hostname() -> None:
    async def record(rps: RpsConversation) -> None:
        await rps.finish("success", {"Status": "syncip completed succesfully"})

    device = VirtualAmtDevice.activated(DeviceIdentity(hostname="pc7"), admin_password="P@ssw0rd1")
    async with serve_device(device) as endpoint, scripted_rps(record) as rps:
        await run_rpc(
            [
                "maintenance",
                "syncip",
                "-u",
                rps.url,
                "-password",
                "P@ssw0rd1",
                "-staticip",
                "10.0.0.5",
                "-netmask",
                "255.0.0.0",
            ],
            device_endpoint=endpoint,
        )
        await run_rpc(
            ["maintenance", "synchostname", "-u", rps.url, "-password", "P@ssw0rd1"], device_endpoint=endpoint
        )
    syncip, synchostname = (conversation.device_payload for conversation in rps.conversations)
    assert syncip["ipConfiguration"]["ipAddress"] == "10.0.0.5"
    assert syncip["ipConfiguration"]["netmask"] == "255.0.0.0"
    assert syncip["ipConfiguration"]["static"] is True
    assert synchostname["hostnameInfo"] == {"dnsSuffixOS": "vprodemo.com", "hostname": "pc7"}


def _self_signed_server(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "server.pem"
    key_path = tmp_path / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


async def test_wss_verification_ca_file_and_skip(tmp_path: Path) -> None:
    async def succeed(rps: RpsConversation) -> None:
        await rps.finish("success", {"Status": "ok"})

    context, cert_path = _self_signed_server(tmp_path)
    device = VirtualAmtDevice()
    async with serve_device(device) as endpoint, scripted_rps(succeed, ssl_context=context) as rps:
        untrusted = await run_rpc(["activate", "-u", rps.url, "-profile", "p"], device_endpoint=endpoint)
        skipped = await run_rpc(["activate", "-u", rps.url, "-profile", "p", "-n"], device_endpoint=endpoint)
        trusted = await run_rpc(
            ["activate", "-u", rps.url, "-profile", "p", "-cafile", str(cert_path)], device_endpoint=endpoint
        )
    assert untrusted.exit_code == 2 and "certificate" in (untrusted.error or "").lower()
    assert skipped.exit_code == 0
    assert trusted.exit_code == 0
    assert json.loads(trusted.message) == {"Status": "ok"}
