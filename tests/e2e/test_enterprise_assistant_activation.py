"""Activations that use the Enterprise Assistant, end to end (spec/enterprise-assistant.md §4-§6):
amtsim's rpc client → WSS → daphne, which asks amtsim's virtual EA (connected over WSS to `/ea`)
and configures amtsim's virtual device. Each result is proven on the device: the certificate it
holds chains to the EA's CA and belongs to a key the device generated, and the 802.1X settings
reference it. The failure tests show the named component failure and the terminal message.

The server is a worker of its own on the e2e database and Vault, with EA accounts for tenants
that no other test uses (each test takes a fresh one, so an EA of one test never serves another).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import secrets as random_source
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.enterprise_assistant import (
    CSR_RESPONSE,
    KEY_PAIR_RESPONSE,
    PROFILE_REQUEST,
    EaFault,
    VirtualEnterpriseAssistant,
    running_enterprise_assistant,
)
from amtsim.pki import make_provisioning_chain
from rps_site.openbao_dev import free_port
from rps_site.serving import daphne_command
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, running_server, unique
from tests.e2e.test_configuration import assert_nowhere_in_database_or_log
from tests.e2e.test_tls_tunnel import installed_certificate_login_succeeds

RUN = random_source.token_hex(4)
TENANTS = [f"ea-act-{RUN}-{index}" for index in range(24)]
ACCOUNTS = {f"ea-{tenant}": (f"{tenant}-password-{random_source.token_hex(8)}", tenant) for tenant in TENANTS}
_unused = itertools.count()
EA_TIMEOUT = 3  # seconds; RPS_EA_TIMEOUT of this server

INITIATE = "Failed to initiate cert request with enterprise assistant in 802.1x"
GET_CERTIFICATE = "Failed to get cert from Microsoft CA in 802.1x"


@pytest.fixture(scope="module")
def ea_rps(rps_server: RpsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RpsServer]:
    """A worker with the EA accounts, its device tenants and a short EA timeout (one process: the
    in-memory channel layer carries the requests, Redis is covered by test_enterprise_assistant)."""
    port = free_port()
    environment = {
        **rps_server.environment,
        "RPS_DEVICE_TENANTS": ",".join(TENANTS),
        "RPS_EA_TIMEOUT": str(EA_TIMEOUT),
        "RPS_EA_ACCOUNTS": json.dumps(
            {user: {"password": password, "tenant": tenant} for user, (password, tenant) in ACCOUNTS.items()}
        ),
    }
    environment.pop("RPS_REDIS_URL", None)
    log_path = tmp_path_factory.mktemp("ea-activation") / "server.log"
    key = rps_server.ca_file.parent / "key.pem"  # beside cert.pem (make_self_signed_certificate)
    command = daphne_command(port=port, tls=(rps_server.ca_file, key))
    probe = f"https://127.0.0.1:{port}/api/v1/admin/version"
    with running_server(command, environment, log_path, probe_url=probe, ca_file=rps_server.ca_file):
        yield dataclasses.replace(rps_server, port=port, log_path=log_path, environment=environment)


@dataclasses.dataclass
class Tenant:
    name: str
    credentials: tuple[str, str]


@pytest.fixture
def tenant() -> Tenant:
    name = TENANTS[next(_unused)]
    user = f"ea-{name}"
    return Tenant(name, (user, ACCOUNTS[user][0]))


def ea_url(rps: RpsServer) -> str:
    return f"wss://127.0.0.1:{rps.port}/ea"


def ea_context(rps: RpsServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(rps.ca_file))


def connected_ea(rps: RpsServer, tenant: Tenant, **options: Any) -> Any:
    return running_enterprise_assistant(
        ea_url(rps), credentials=tenant.credentials, ssl_context=ea_context(rps), **options
    )


def ieee8021x_config(rps: RpsServer, tenant: Tenant, *, wired: bool, protocol: int) -> str:
    name = unique("dot1x")
    body: dict[str, Any] = {"profileName": name, "authenticationProtocol": protocol, "wiredInterface": wired}
    if wired:
        body["pxeTimeout"] = 120
    with rps.api(tenant.name) as api:
        response = api.post("/ieee8021xconfigs", json=body)
    assert response.status_code == 201, response.text
    return name


def wifi_8021x(rps: RpsServer, tenant: Tenant, protocol: int) -> str:
    name = unique("corp")
    body = {
        "profileName": name,
        "authenticationMethod": 7,
        "encryptionMethod": 4,
        "ssid": f"ssid-{name}",
        "ieee8021xProfileName": ieee8021x_config(rps, tenant, wired=False, protocol=protocol),
        "linkPolicy": [14, 16],
    }
    with rps.api(tenant.name) as api:
        response = api.post("/wirelessconfigs", json=body)
    assert response.status_code == 201, response.text
    return name


def wired_profile(rps: RpsServer, tenant: Tenant, protocol: int) -> str:
    config = ieee8021x_config(rps, tenant, wired=True, protocol=protocol)
    return create_ccm_profile(rps, tenant_id=tenant.name, ieee8021xProfileName=config)


async def activate(rps: RpsServer, device: VirtualAmtDevice, profile: str, tenant: Tenant) -> Any:
    async with serve_device(device) as endpoint:
        return await run_rpc(
            ["activate", "-u", rps.wss_url, "-profile", profile, "-cafile", str(rps.ca_file), "-tenant", tenant.name],
            device_endpoint=endpoint,
        )


def new_device(**identity: Any) -> VirtualAmtDevice:
    return VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-"), **identity))


def component(result: Any, name: str) -> dict[str, str]:
    assert result.status is not None, (result.error, result.message)
    entry: dict[str, str] = result.status["Components"][name]
    return entry


def proven_client_certificate(
    device: VirtualAmtDevice, handle: str, ea: VirtualEnterpriseAssistant
) -> x509.Certificate:
    """The device holds `handle` as a certificate of the EA's CA, for a key the device generated."""
    stored = device.state.certificate(handle)
    assert stored is not None and not stored.trusted_root
    stored.certificate.verify_directly_issued_by(ea.ca.root)
    assert device.state.key_pair_for(stored.certificate) is not None
    assert stored.certificate in [issued.certificate for issued in ea.issued]
    return stored.certificate


def proven_root(device: VirtualAmtDevice, handle: str, ea: VirtualEnterpriseAssistant) -> None:
    stored = device.state.certificate(handle)
    assert stored is not None and stored.trusted_root and stored.certificate == ea.ca.root


# -- the flows, proven on the device ---------------------------------------------------------------


async def test_wired_eap_tls(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    device = new_device(wireless=False)
    async with connected_ea(ea_rps, tenant) as ea:
        result = await activate(ea_rps, device, profile, tenant)
    assert result.exit_code == 0, (result.error, result.message)
    wired = component(result, "WiredNetwork")
    assert wired["Result"] == "Success", wired
    linked = device.state.ieee8021x_certificates
    certificate = proven_client_certificate(device, linked["ClientCertificate"], ea)
    proven_root(device, linked["ServerCertificateIssuer"], ea)
    settings = device.state.ieee8021x
    assert (settings.get("Enabled"), settings.get("AuthenticationProtocol")) == ("2", "0")
    assert settings.get("Username") == f"iME${device.identity.hostname}$" and not settings.get("Password")
    # What was issued shows in the component and in the run history.
    assert f"serial {certificate.serial_number:x}" in wired["Details"]
    assert certificate.subject.rfc4514_string() in wired["Details"]
    steps = run_steps(ea_rps, tenant, result)
    assert f"serial {certificate.serial_number:x}" in steps["802.1X certificate for wired"]
    assert [message["subaction"] for message in ea.received] == [PROFILE_REQUEST, KEY_PAIR_RESPONSE, CSR_RESPONSE]
    assert {message["devname"] for message in ea.received} == {device.identity.hostname}


async def test_wired_peap_password_goes_to_the_device_only(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=2)
    device = new_device(wireless=False)
    async with connected_ea(ea_rps, tenant) as ea:
        result = await activate(ea_rps, device, profile, tenant)
    assert result.exit_code == 0, (result.error, result.message)
    assert component(result, "WiredNetwork")["Result"] == "Success"
    account = ea.accounts[0]
    settings = device.state.ieee8021x
    assert settings.get("AuthenticationProtocol") == "2" and settings.get("Password") == account.password
    assert settings.get("Username") == account.username
    # B8: the RADIUS root is linked, and PEAP has no client certificate.
    assert set(device.state.ieee8021x_certificates) == {"ServerCertificateIssuer"}
    proven_root(device, device.state.ieee8021x_certificates["ServerCertificateIssuer"], ea)
    assert_nowhere_in_database_or_log(ea_rps, account.password)
    assert account.password not in json.dumps(result.status)


async def test_two_wifi_profiles_each_with_its_own_certificate(ea_rps: RpsServer, tenant: Tenant) -> None:
    first, second, peap = (wifi_8021x(ea_rps, tenant, protocol) for protocol in (0, 0, 2))
    profile = create_ccm_profile(
        ea_rps,
        tenant_id=tenant.name,
        wifiConfigs=[
            {"profileName": first, "priority": 1},
            {"profileName": second, "priority": 2},
            {"profileName": peap, "priority": 3},
        ],
    )
    device = new_device()
    async with connected_ea(ea_rps, tenant) as ea:
        result = await activate(ea_rps, device, profile, tenant)
    assert result.exit_code == 0, (result.error, result.message)
    assert component(result, "WirelessNetwork") == {"Result": "Success", "Details": "Wireless Configured"}
    state = device.state
    assert state.wifi_profile_names == [first, second, peap]
    clients = []
    for entry in state.wifi_endpoint_settings[:2]:
        credentials = state.wifi_ieee8021x_credentials[entry.get("InstanceID") or ""]
        clients.append(proven_client_certificate(device, credentials["ClientCredential"], ea))
        proven_root(device, credentials["CACredential"], ea)
        assert state.wifi_ieee8021x_settings[entry.get("InstanceID") or ""].get("AuthenticationProtocol") == "0"
    assert clients[0] != clients[1] and clients[0].public_key() != clients[1].public_key()  # B7
    peap_id = state.wifi_endpoint_settings[2].get("InstanceID") or ""
    assert state.wifi_ieee8021x_settings[peap_id].get("Password") == ea.accounts[0].password
    assert set(state.wifi_ieee8021x_credentials[peap_id]) == {"CACredential"}
    assert len({message["nodeid"] for message in ea.received}) == 3  # one exchange per profile
    # The root was added once and reused (§5.3).
    assert sum(1 for stored in state.certificates if stored.trusted_root and stored.certificate == ea.ca.root) == 1
    assert_nowhere_in_database_or_log(ea_rps, ea.accounts[0].password)


async def test_tls_from_the_microsoft_ca_on_amt16(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = create_ccm_profile(ea_rps, tenant_id=tenant.name, tlsMode=1, tlsSigningAuthority="MicrosoftCA")
    device = new_device()
    guid = device.identity.uuid.lower()
    async with connected_ea(ea_rps, tenant) as ea:
        result = await activate(ea_rps, device, profile, tenant)
    assert result.exit_code == 0, (result.error, result.message)
    assert result.status["TLSConfiguration"] == "Configured"
    assert component(result, "TLS")["Result"] == "Success"
    assert device.state.tls_committed
    kept = ea_rps.vault_store().read(device_path(guid)).values["TLS_ISSUED_CERTIFICATE"].reveal()
    issued = x509.load_pem_x509_certificate(kept.encode())
    issued.verify_directly_issued_by(ea.ca.root)  # B13: kept for later sessions
    serving = next(stored for stored in device.state.certificates if stored.certificate == issued)
    assert device.state.key_pair_for(serving.certificate) is not None
    assert any(stored.trusted_root and stored.certificate == ea.ca.root for stored in device.state.certificates)
    assert f"serial {issued.serial_number:x}" in component(result, "TLS")["Details"]
    assert {message["authProtocol"] for message in ea.received} == {0}


async def test_tls_from_the_microsoft_ca_on_amt19_then_deactivation_through_the_tunnel(
    ea_rps: RpsServer, tenant: Tenant
) -> None:
    profile = create_ccm_profile(ea_rps, tenant_id=tenant.name, tlsMode=1, tlsSigningAuthority="MicrosoftCA")
    device = new_device(amt_version="19.0.5")
    guid = device.identity.uuid.lower()
    async with connected_ea(ea_rps, tenant) as ea, serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-u", ea_rps.wss_url, "-profile", profile, "-cafile", str(ea_rps.ca_file)]
            + ["-tenant", tenant.name],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status["TLSConfiguration"] == "Configured"
        values = ea_rps.vault_store().read(device_path(guid)).values
        issued = x509.load_pem_x509_certificate(values["TLS_ISSUED_CERTIFICATE"].reveal().encode())
        issued.verify_directly_issued_by(ea.ca.root)
        # A later session through the tunnel is held to the kept certificate, and it is the one served.
        result = await run_rpc(
            ["deactivate", "-u", ea_rps.wss_url, "-password", values["AMT_PASSWORD"].reveal()]
            + ["-cafile", str(ea_rps.ca_file), "-tenant", tenant.name],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
    assert device.state.control_mode is ControlMode.PRE_PROVISIONING
    assert x509.load_der_x509_certificate(device.presented_tls_leaves[-1]) == issued


async def test_tls_tunnel_on_amt16_with_the_microsoft_ca(ea_rps: RpsServer, tenant: Tenant) -> None:
    """Upstream configures TLS, then fails with `TLS provisioning failed - no certificates were
    generated` (B13): here the tunnel is held to the EA's certificate and the activation goes on."""
    profile = create_ccm_profile(ea_rps, tenant_id=tenant.name, tlsMode=2, tlsSigningAuthority="MicrosoftCA")
    device = new_device()
    async with connected_ea(ea_rps, tenant) as ea, serve_device(device, tls=True) as endpoint:
        result = await run_rpc(
            ["activate", "-u", ea_rps.wss_url, "-profile", profile, "-cafile", str(ea_rps.ca_file)]
            + ["-tenant", tenant.name, "--tls-tunnel"],
            device_endpoint=endpoint,
        )
        assert result.exit_code == 0, (result.error, result.message)
        assert result.status["TLSConfiguration"] == "Configured" and result.tunnel_rounds > 0
        secret = ea_rps.vault_store().read(device_path(device.identity.uuid.lower())).values
        issued = x509.load_pem_x509_certificate(secret["TLS_ISSUED_CERTIFICATE"].reveal().encode())
        issued.verify_directly_issued_by(ea.ca.root)
        # AMT's TLS port serves it: a client trusting only the EA's CA logs in.
        assert await installed_certificate_login_succeeds(endpoint, secret["AMT_PASSWORD"].reveal(), ea.ca.root)


async def test_amt19_acm_with_the_microsoft_ca_between_the_phases(ea_rps: RpsServer, tenant: Tenant) -> None:
    """Upstream stops in CCM with `success` after Microsoft-CA TLS on AMT 19+ (§6.2): here the
    upgrade goes on through a tunnel held to the EA's certificate."""
    suffix = f"{unique('eaacm')}.example.com"
    chain = make_provisioning_chain(suffix)
    profile = unique("acm")
    with ea_rps.api(tenant.name) as api:
        domain = {
            "profileName": unique("dom"),
            "domainSuffix": suffix,
            "provisioningCert": base64.b64encode(chain.pfx("Pfx-Passw0rd!")).decode(),
            "provisioningCertStorageFormat": "raw",
            "provisioningCertPassword": "Pfx-Passw0rd!",
        }
        assert api.post("/domains", json=domain).status_code == 201
        body = {
            "profileName": profile,
            "activation": "acmactivate",
            "generateRandomPassword": True,
            "generateRandomMEBxPassword": True,
            "dhcpEnabled": True,
            "tlsMode": 1,
            "tlsSigningAuthority": "MicrosoftCA",
        }
        assert api.post("/profiles", json=body).status_code == 201
    device = VirtualAmtDevice(
        DeviceIdentity(amt_version="19.0.5", dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256])
    )
    async with connected_ea(ea_rps, tenant) as ea:
        result = await activate(ea_rps, device, profile, tenant)
    assert result.exit_code == 0, (result.error, result.message)
    assert result.status["Components"]["Activation"]["Mode"] == "ACM"
    assert device.state.control_mode is ControlMode.ACM and device.state.tls_committed
    calls = device.call_names
    assert calls.index("AMT_TLSSettingData.Put") < calls.index("IPS_HostBasedSetupService.UpgradeClientToAdmin")
    issued = x509.load_der_x509_certificate(device.presented_tls_leaves[-1])
    issued.verify_directly_issued_by(ea.ca.root)  # the upgrade's sessions were held to it


# -- failures: a named component failure and a terminal message -------------------------------------


def run_steps(rps: RpsServer, tenant: Tenant, result: Any) -> dict[str, str]:
    """The last run's steps in the device registry (GET /devices/<guid>), name → detail."""
    with rps.api(tenant.name) as api:
        history = api.get(f"/devices/{result.payload['uuid']}").json()
    return {step["name"]: step["detail"] for step in history["runs"][0]["steps"]}


def assert_wired_failure(rps: RpsServer, tenant: Tenant, result: Any, text: str, cause: str) -> None:
    """The component names the failed step, the run history its cause; the client got its
    terminal message: the device is activated, and `error` says a component failed (B4 decided
    by protocol.md correction 5)."""
    assert result.outcome == "error" and result.status["Status"] == "Client control mode.", result.message
    assert component(result, "Activation")["Result"] == "Success"
    wired = component(result, "WiredNetwork")
    assert wired == {"Result": "Failure", "Details": text}, wired
    assert text in result.status["Network"]
    detail = run_steps(rps, tenant, result)["configure WiredNetwork"]
    assert detail.startswith(f"{text}: ") and cause in detail, detail


async def test_no_ea_connected_fails_at_once(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await activate(ea_rps, new_device(wireless=False), profile, tenant)
    assert_wired_failure(ea_rps, tenant, result, INITIATE, "no Enterprise Assistant is connected")
    assert loop.time() - started < 30


async def test_an_unauthenticated_ea_serves_nothing(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=2)
    impostor = VirtualEnterpriseAssistant(
        ea_url(ea_rps), credentials=(tenant.credentials[0], "wrong-password-123456"), ssl_context=ea_context(ea_rps)
    )
    impostor.start()
    try:
        for _ in range(100):
            if impostor.refusals:
                break
            await asyncio.sleep(0.05)
        result = await activate(ea_rps, new_device(wireless=False), profile, tenant)
    finally:
        await impostor.stop()
    assert impostor.refusals and impostor.connections == 0 and not impostor.received
    assert_wired_failure(ea_rps, tenant, result, INITIATE, "no Enterprise Assistant is connected")


async def test_a_silent_ea_fails_only_the_waiting_activation(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    devices = [new_device(wireless=False), new_device(wireless=False)]
    async with connected_ea(ea_rps, tenant) as ea:
        ea.faults.add(EaFault.silent(PROFILE_REQUEST))  # the first request only
        results = await asyncio.gather(*(activate(ea_rps, device, profile, tenant) for device in devices))
    outcomes = sorted(component(result, "WiredNetwork")["Result"] for result in results)
    assert outcomes == ["Failure", "Success"], [result.status for result in results]
    failed = next(result for result in results if component(result, "WiredNetwork")["Result"] == "Failure")
    assert_wired_failure(ea_rps, tenant, failed, INITIATE, f"did not answer within {EA_TIMEOUT} s")


@pytest.mark.parametrize(
    ("fault", "text", "cause"),
    [
        (
            EaFault.malformed(CSR_RESPONSE, "response.certificate"),
            "Failed to add certificate in 802.1x",
            "response.certificate is missing",
        ),
        (
            EaFault.malformed(KEY_PAIR_RESPONSE, "response.csr"),
            "Failed to have AMT sign CSR in 802.1x",
            "response.csr is missing",
        ),
        (
            EaFault.not_json(KEY_PAIR_RESPONSE),
            "Failed to send key pair to enterprise assistant in 802.1x",
            "did not answer",
        ),
    ],
    ids=["no certificate", "no csr", "not json"],
)
async def test_a_malformed_reply_is_a_named_failure(
    ea_rps: RpsServer, tenant: Tenant, fault: EaFault, text: str, cause: str
) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    device = new_device(wireless=False)
    async with connected_ea(ea_rps, tenant) as ea:
        ea.faults.add(fault)
        result = await activate(ea_rps, device, profile, tenant)
    assert_wired_failure(ea_rps, tenant, result, text, cause)
    assert device.state.ieee8021x.get("Enabled") != "2" and not device.state.ieee8021x_certificates


async def test_an_ea_that_disconnects_mid_exchange(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    loop = asyncio.get_running_loop()
    async with connected_ea(ea_rps, tenant, reconnect=False) as ea:
        ea.faults.add(EaFault.disconnect(KEY_PAIR_RESPONSE))
        started = loop.time()
        result = await activate(ea_rps, new_device(wireless=False), profile, tenant)
    text = "Failed to send key pair to enterprise assistant in 802.1x"
    assert_wired_failure(ea_rps, tenant, result, text, "closed while the request was pending")
    assert loop.time() - started < 30


async def test_two_eas_one_dies_mid_exchange_the_other_serves(ea_rps: RpsServer, tenant: Tenant) -> None:
    profile = wired_profile(ea_rps, tenant, protocol=0)
    dying = VirtualEnterpriseAssistant(
        ea_url(ea_rps), credentials=tenant.credentials, ssl_context=ea_context(ea_rps), reconnect=False
    )
    dying.faults.add(EaFault.delay(PROFILE_REQUEST, 30))  # holds the request, then dies with it
    dying.start()
    await dying.wait_connected()
    first = asyncio.create_task(activate(ea_rps, new_device(wireless=False), profile, tenant))
    for _ in range(200):
        if dying.received:
            break
        await asyncio.sleep(0.05)
    assert dying.received
    async with connected_ea(ea_rps, tenant) as live:
        await dying.stop()  # with the first activation's request pending
        failed = await first
        healthy = await activate(ea_rps, new_device(wireless=False), profile, tenant)
    assert_wired_failure(ea_rps, tenant, failed, INITIATE, "closed while the request was pending")
    assert component(healthy, "WiredNetwork")["Result"] == "Success"
    assert len(live.issued) == 1 and not dying.issued


async def test_a_failed_wifi_exchange_fails_its_profile_and_the_next_is_still_added(
    ea_rps: RpsServer, tenant: Tenant
) -> None:
    """Upstream stops the whole wireless step at the first EA failure (S27); here only that
    profile fails, named with the step, and the next profile gets its own certificate."""
    first, second = wifi_8021x(ea_rps, tenant, 0), wifi_8021x(ea_rps, tenant, 0)
    links = [{"profileName": first, "priority": 1}, {"profileName": second, "priority": 2}]
    profile = create_ccm_profile(ea_rps, tenant_id=tenant.name, wifiConfigs=links)
    device = new_device()
    async with connected_ea(ea_rps, tenant) as ea:
        ea.faults.add(EaFault.silent(CSR_RESPONSE))  # the first profile's CSR only
        result = await activate(ea_rps, device, profile, tenant)
    assert result.outcome == "error"
    wireless = component(result, "WirelessNetwork")
    assert wireless == {
        "Result": "Failure",
        "Details": f"Added {second} WiFi Profiles. Failed to add {first} ({GET_CERTIFICATE})",
    }
    assert device.state.wifi_profile_names == [second]
    credentials = device.state.wifi_ieee8021x_credentials[
        device.state.wifi_endpoint_settings[0].get("InstanceID") or ""
    ]
    proven_client_certificate(device, credentials["ClientCredential"], ea)
