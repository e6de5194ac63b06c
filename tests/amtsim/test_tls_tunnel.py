"""TLS-enforced devices (AMT 19+) and the TLS-tunnel relay of §5."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.digest import DigestChallenge, admin_password_hash
from amtsim.pki import shared_on_die_ca
from tests.amtsim.rps_double import (
    b64,
    enumerate_,
    epr,
    get,
    http_request,
    method,
    params,
    parse_http_answer,
    pull,
    put,
)
from tests.amtsim.scripted_rps import RpsConversation, TunnelledTls, scripted_rps, server_message
from tests.amtsim.test_fixture_shapes import InProcessRps

PASSWORD = "Adm1n!Passw0rd"


def odca_trusting_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cadata=shared_on_die_ca().root_pem().decode())
    return context


async def tunnelled_call(rps: RpsConversation, tunnel: TunnelledTls, xml: str) -> tuple[TunnelledTls, object]:
    """One WS-Man call through the tunnel with the digest loop; a 401 closes the session."""
    assert rps.digest is not None
    for _attempt in range(3):
        request = http_request(xml, authorization=rps.digest.authorization(), host="device:16993", close=False)
        answer = parse_http_answer(await tunnel.exchange(request))
        if answer.status != 401:
            return tunnel, answer
        rps.digest.challenge = DigestChallenge.parse(answer.headers["www-authenticate"])
        # AMT's 401 carries Connection: close, so the tunnel is rebuilt (§5.2).
        tunnel = TunnelledTls(rps, tunnel.context)
        await tunnel.open()
    raise AssertionError("could not authenticate")


async def test_amt19_ccm_activation_through_the_tunnel() -> None:
    peer_leaves: list[bytes] = []

    async def activate_over_tls(rps: RpsConversation) -> None:
        assert rps.device_payload.get("tlsEnforced") is True
        tunnel = TunnelledTls(rps, odca_trusting_context())
        await tunnel.open()  # verifies the device chain against the ODCA stand-in
        peer_leaves.append(tunnel.peer_leaf())
        tunnel, settings = await tunnelled_call(rps, tunnel, get("AMT_GeneralSettings"))
        realm = settings.find("DigestRealm")  # type: ignore[attr-defined]
        password_hash = admin_password_hash(realm=realm, password=PASSWORD)
        setup = method(
            "IPS_HostBasedSetupService",
            "Setup",
            params(NetAdminPassEncryptionType="2", NetworkAdminPassword=password_hash),
        )
        tunnel, answer = await tunnelled_call(rps, tunnel, setup)
        assert answer.find("ReturnValue") == "0"  # type: ignore[attr-defined]
        rps.digest.username, rps.digest.password = "admin", PASSWORD  # type: ignore[union-attr]
        tunnel, commit = await tunnelled_call(rps, tunnel, method("AMT_SetupAndConfigurationService", "CommitChanges"))
        assert commit.find("ReturnValue") == "0"  # type: ignore[attr-defined]
        await rps.finish("success", {"Status": "Client control mode."})

    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    async with serve_device(device) as endpoint, scripted_rps(activate_over_tls) as rps:
        assert endpoint.tls_port is not None
        result = await run_rpc(["activate", "-u", rps.url, "-profile", "p"], device_endpoint=endpoint)
    assert rps.errors == [], rps.errors
    assert result.exit_code == 0, result
    assert device.state.control_mode is ControlMode.CCM
    assert device.state.admin_password_matches(PASSWORD)
    assert device.state.commits == 1
    leaf = x509.load_der_x509_certificate(peer_leaves[0])
    assert leaf.issuer == shared_on_die_ca().intermediate.subject
    # The tunnel really was used: the plain port saw nothing but TLS-carried calls.
    assert device.call_names == [
        "AMT_GeneralSettings.Get",
        "IPS_HostBasedSetupService.Setup",
        "AMT_SetupAndConfigurationService.CommitChanges",
    ]


async def test_tunnel_reports_a_closed_device_connection() -> None:
    async def hello_to_nowhere(rps: RpsConversation) -> None:
        # Not a TLS record: the device's TLS stack drops the connection.
        await rps.websocket.send(server_message("tls_data", payload=b64(b"GET / HTTP/1.1\r\n\r\n")))
        reply = await rps.receive()
        assert reply is not None
        assert (reply["method"], reply["payload"]) == ("connection_reset", "Y29ubmVjdGlvbl9jbG9zZWQ=")
        await rps.finish("error", {"Status": "Failed to establish TLS tunnel connection"})

    device = VirtualAmtDevice(DeviceIdentity(amt_version="19.0.5"))
    async with serve_device(device) as endpoint, scripted_rps(hello_to_nowhere) as rps:
        result = await run_rpc(["activate", "-u", rps.url, "-profile", "p"], device_endpoint=endpoint)
    assert rps.errors == []
    assert result.exit_code == 1
    assert device.calls == []


def _issue(public_key: rsa.RSAPublicKey, ca_key: rsa.RSAPrivateKey, ca_name: x509.Name) -> bytes:
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AMT-device")]))
        .issuer_name(ca_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _configure_tls(device: VirtualAmtDevice, ca_key: rsa.RSAPrivateKey, ca_name: x509.Name) -> None:
    """§4.9 steps 3–8 in process: key pair, issued certificate, context, settings, commit."""
    rps = InProcessRps(device)
    rps.call(method("AMT_PublicKeyManagementService", "GenerateKeyPair", params(KeyAlgorithm="0", KeyLength="2048")))
    public_key = serialization.load_pem_private_key(device.state.key_pairs[-1].private_pem, None).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    rps.call(
        method(
            "AMT_PublicKeyManagementService",
            "AddCertificate",
            params(CertificateBlob=b64(_issue(public_key, ca_key, ca_name))),
        )
    )
    handle = device.state.certificates[-1].instance_id
    context_body = (
        "<h:ElementInContext>"
        + epr("AMT_PublicKeyCertificate", {"InstanceID": handle})
        + "</h:ElementInContext><h:ElementProvidingContext>"
        + epr("AMT_TLSProtocolEndpointCollection", {"ElementName": "TLSProtocolEndpoint Instances Collection"})
        + "</h:ElementProvidingContext>"
    )
    assert rps.call(put("AMT_TLSCredentialContext", context_body, create=True)).status == 200
    context = rps.value(enumerate_("AMT_TLSSettingData"), "EnumerationContext")
    assert rps.call(pull("AMT_TLSSettingData", context)).status == 200
    for instance_id in ("Intel(r) AMT 802.3 TLS Settings", "Intel(r) AMT LMS TLS Settings"):
        body = params(
            ElementName=instance_id,
            Enabled="true",
            InstanceID=instance_id,
            MutualAuthentication="false",
            AcceptNonSecureConnections="true",
        )
        assert rps.call(put("AMT_TLSSettingData", body, {"InstanceID": instance_id})).status == 200
    assert rps.call(method("AMT_SetupAndConfigurationService", "CommitChanges")).status == 200


async def test_tls_tunnel_flag_port_switch_and_installed_certificate() -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MPS root (test)")])
    now = datetime.now(UTC)
    ca_certificate = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    device = VirtualAmtDevice.activated(DeviceIdentity(amt_version="16.1.25"), admin_password=PASSWORD)

    async def switch_then_call(rps: RpsConversation) -> None:
        assert rps.device_payload.get("tlsTunnel") is True
        assert rps.digest is not None
        rps.digest.username = "admin"
        _configure_tls(device, ca_key, ca_name)
        await asyncio.sleep(0.4)  # AMT restarts its TLS listener after CommitChanges
        await rps.websocket.send(server_message("port_switch", payload='{"port":"16993","delay":0}'))
        ack = await rps.receive()
        assert ack is not None and ack["method"] == "port_switch_ack" and ack["payload"] == "b2s="
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cadata=ca_certificate.public_bytes(serialization.Encoding.PEM).decode())
        tunnel = TunnelledTls(rps, context)
        await tunnel.open()  # fails unless the device serves the certificate the server installed
        _tunnel, answer = await tunnelled_call(rps, tunnel, get("AMT_GeneralSettings"))
        assert answer.status == 200  # type: ignore[attr-defined]
        await rps.finish("success", {"Status": "Client control mode.", "TLSConfiguration": "Configured"})

    async with serve_device(device, tls=True) as endpoint, scripted_rps(switch_then_call) as rps:
        result = await run_rpc(
            ["activate", "-u", rps.url, "-profile", "p", "-password", PASSWORD, "--tls-tunnel"],
            device_endpoint=endpoint,
        )
    assert rps.errors == [], rps.errors
    assert result.exit_code == 0, result
    assert device.state.tls_committed and device.state.tls_enabled
