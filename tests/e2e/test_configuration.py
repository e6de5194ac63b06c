"""Post-activation configuration end to end (protocol.md §4.6-4.10): rpc-go client → WSS → daphne
→ virtual AMT device, with PostgreSQL, OpenBao and a recording MPS. One test per profile shape;
each checks the device's resulting configuration, Vault, MPS, and that no secret value reached
the database or the server log."""

from __future__ import annotations

import base64
import secrets as random_source
import subprocess
from typing import Any

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice, run_rpc, serve_device
from amtsim.pki import make_provisioning_chain
from rps_site.vault import device_path
from tests.ca_certificates import self_signed_ca
from tests.e2e.conftest import RpsServer, create_ccm_profile, unique


def device_secret(rps: RpsServer, guid: str) -> dict[str, str]:
    stored = rps.vault_store().read(device_path(guid))
    assert stored is not None, f"no secret for {guid}"
    return {key: value.reveal() for key, value in stored.values.items()}


def canary(prefix: str) -> str:
    return f"{prefix}-{random_source.token_hex(6)}"


def assert_nowhere_in_database_or_log(rps: RpsServer, *values: str) -> None:
    database = rps.database_url.rsplit("/", 1)[1]
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    log = rps.log_text()
    for value in values:
        encoded = base64.b64encode(value.encode()).decode()
        assert value not in dump and encoded not in dump, "a secret reached the database"
        assert value not in log and encoded not in log, "a secret reached the server log"


def api_post(rps: RpsServer, path: str, body: dict[str, Any]) -> None:
    with rps.api() as api:
        response = api.post(path, json=body)
    assert response.status_code == 201, response.text


def create_psk_wifi(rps: RpsServer, psk: str) -> str:
    name = unique("wifi")
    api_post(
        rps,
        "/wirelessconfigs",
        {
            "profileName": name,
            "authenticationMethod": 6,
            "encryptionMethod": 4,
            "ssid": f"ssid-{name}",
            "pskPassphrase": psk,
            "linkPolicy": [14, 16],
        },
    )
    return name


def create_ieee8021x(rps: RpsServer, password: str, *, wired: bool, protocol: int = 2) -> str:
    name = unique("dot1x")
    body: dict[str, Any] = {
        "profileName": name,
        "authenticationProtocol": protocol,
        "wiredInterface": wired,
        "username": "alice",
        "password": password,
    }
    if wired:
        body["pxeTimeout"] = 120
    api_post(rps, "/ieee8021xconfigs", body)
    return name


def create_8021x_wifi(rps: RpsServer, ieee8021x_name: str) -> str:
    name = unique("corp")
    api_post(
        rps,
        "/wirelessconfigs",
        {
            "profileName": name,
            "authenticationMethod": 7,
            "encryptionMethod": 4,
            "ssid": "corp-ssid",
            "ieee8021xProfileName": ieee8021x_name,
            "linkPolicy": [14, 16],
        },
    )
    return name


def create_proxy(rps: RpsServer) -> str:
    name = unique("proxy")
    api_post(
        rps,
        "/proxyconfigs",
        {"name": name, "address": f"{name}.example.com", "port": 3128, "networkDnsSuffix": "example.com"},
    )
    return name


def create_cira_config(rps: RpsServer) -> str:
    name = unique("cira")
    root, _ = self_signed_ca("MPSRoot")
    api_post(
        rps,
        "/ciraconfigs",
        {
            "configName": name,
            "mpsServerAddress": "mps.example.com",
            "mpsPort": 4433,
            "username": "mpsadmin",
            "commonName": "mps.example.com",
            "serverAddressFormat": 201,
            "authMethod": 2,
            "mpsRootCertificate": base64.b64encode(root.public_bytes(serialization.Encoding.DER)).decode(),
            "proxyDetails": "",
        },
    )
    return name


MPS_ROOT_KEY_LINES: list[str] = []


@pytest.fixture(scope="module")
def mps_ca(rps_server: RpsServer) -> x509.Certificate:
    """`MPSCerts` as MPS writes it (root_key and nested TLS configs carrying the CA)."""
    certificate, key = self_signed_ca("MPSRoot-e2e")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    ca_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    MPS_ROOT_KEY_LINES[:] = key_pem.splitlines()[1:-1]
    client = hvac.Client(url=rps_server.vault.addr, token=rps_server.vault.root_token)
    client.secrets.kv.v2.create_or_update_secret(
        path="MPSCerts",
        mount_point="secret",
        secret={
            "root_key": key_pem,
            "mps_tls_config": {"cert": ca_pem, "key": "unused", "ca": ca_pem},
            "web_tls_config": {"cert": ca_pem, "key": "unused", "ca": ca_pem},
        },
    )
    return certificate


async def activate(rps: RpsServer, device: VirtualAmtDevice, profile: str, *extra: str):  # type: ignore[no-untyped-def]
    async with serve_device(device) as endpoint:
        return await run_rpc(
            ["activate", "-u", rps.wss_url, "-profile", profile, "-cafile", str(rps.ca_file), *extra],
            device_endpoint=endpoint,
        )


def components(result: Any) -> dict[str, str]:
    assert result.status is not None, (result.error, result.message)
    return {name: entry["Result"] for name, entry in result.status["Components"].items()}


# ---------------------------------------------------------------------------------------------


async def test_dhcp_wired_two_wifi_profiles_and_a_proxy(rps_server: RpsServer) -> None:
    psk, wifi_password, wired_password = canary("psk"), canary("wifi8021x"), canary("wired8021x")
    home = create_psk_wifi(rps_server, psk)
    corp = create_8021x_wifi(rps_server, create_ieee8021x(rps_server, wifi_password, wired=False))
    wired8021x = create_ieee8021x(rps_server, wired_password, wired=True)
    proxy = create_proxy(rps_server)
    profile = create_ccm_profile(
        rps_server,
        dhcpEnabled=True,
        wifiConfigs=[{"profileName": corp, "priority": 2}, {"profileName": home, "priority": 1}],
        localWifiSyncEnabled=True,
        proxyConfigs=[{"name": proxy, "priority": 1}],
        ieee8021xProfileName=wired8021x,
    )
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))

    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, (result.error, result.message)
    assert components(result) == {
        "Activation": "Success",
        "WiredNetwork": "Success",
        "WirelessNetwork": "Success",
        "TLS": "NotApplicable",
        "CIRAProxy": "Success",
        "CIRAConnection": "NotApplicable",
    }
    assert result.status["Network"] == "Wired Network Configured with 802.1x. Wireless Configured. Proxy Configured"
    state = device.state
    assert state.wired_port.get("DHCPEnabled") == "true" and state.wired_port.get("IpSyncEnabled") == "true"
    assert state.ieee8021x.get("Enabled") == "2" and state.ieee8021x.get("Password") == wired_password
    assert state.wifi_profile_names == [home, corp]  # priority order
    assert state.wifi_endpoint_settings[0].get("PSKPassPhrase") == psk
    assert state.wifi_endpoint_settings[1].get("AuthenticationMethod") == "7"
    corp_8021x = state.wifi_ieee8021x_settings[state.wifi_endpoint_settings[1].get("InstanceID") or ""]
    assert corp_8021x.get("Password") == wifi_password  # the 802.1X password from Vault reached the device
    assert state.wifi_port_configuration.get("localProfileSynchronizationEnabled") == "3"
    assert [entry.get("AccessInfo") for entry in state.proxy_access_points] == [f"{proxy}.example.com"]
    assert "MPS_PASSWORD" not in device_secret(rps_server, device.identity.uuid)
    assert_nowhere_in_database_or_log(
        rps_server, psk, wifi_password, wired_password, device_secret(rps_server, device.identity.uuid)["AMT_PASSWORD"]
    )


async def test_static_ip_with_ip_sync(rps_server: RpsServer) -> None:
    profile = create_ccm_profile(rps_server, dhcpEnabled=False, ipSyncEnabled=True)
    device = VirtualAmtDevice(DeviceIdentity())
    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message
    assert result.status["Components"]["WiredNetwork"] == {"Result": "Success", "Details": "Wired Network Configured"}
    port = device.state.wired_port
    assert (port.get("DHCPEnabled"), port.get("IpSyncEnabled"), port.get("SharedStaticIp")) == ("false", "true", "true")


@pytest.mark.parametrize(
    ("ip_sync", "expected_flags"),
    [
        pytest.param(False, ("false", "false", "false"), id="static-without-ip-sync"),
        pytest.param(True, ("false", "true", "true"), id="static-with-ip-sync"),
    ],
)
async def test_a_dhcp_device_reconfigured_with_a_static_profile(
    rps_server: RpsServer, ip_sync: bool, expected_flags: tuple[str, str, str]
) -> None:
    """Issue 13 G2: the DHCP Put keeps the lease's addresses (as AMT's recorded answer does), so
    a static profile without IP sync finds the IPAddress and SubnetMask it needs on the device."""
    dhcp = create_ccm_profile(rps_server, dhcpEnabled=True)
    static = create_ccm_profile(rps_server, dhcpEnabled=False, ipSyncEnabled=ip_sync)
    device = VirtualAmtDevice(DeviceIdentity())
    async with serve_device(device) as endpoint:
        rpc = ["activate", "-u", rps_server.wss_url, "-cafile", str(rps_server.ca_file)]
        first = await run_rpc([*rpc, "-profile", dhcp], device_endpoint=endpoint)
        assert first.exit_code == 0, first.message
        port = device.state.wired_port
        assert port.get("DHCPEnabled") == "true"
        lease = {name: port.get(name) for name in ("IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS")}
        assert all(lease.values()), lease
        password = device_secret(rps_server, device.identity.uuid)["AMT_PASSWORD"]

        second = await run_rpc([*rpc, "-profile", static, "-password", password], device_endpoint=endpoint)
        assert second.exit_code == 0, second.message
    assert second.status["Components"]["WiredNetwork"] == {"Result": "Success", "Details": "Wired Network Configured"}
    port = device.state.wired_port
    assert (port.get("DHCPEnabled"), port.get("IpSyncEnabled"), port.get("SharedStaticIp")) == expected_flags
    if not ip_sync:  # the static addresses are the ones the device had
        assert {name: port.get(name) for name in lease} == lease


async def test_tls_self_signed_with_a_certificate_from_the_mps_ca(
    rps_server: RpsServer, mps_ca: x509.Certificate
) -> None:
    profile = create_ccm_profile(rps_server, tlsMode=2, tlsSigningAuthority="SelfSigned")
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("tls-")))
    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message
    assert result.status["TLSConfiguration"] == "Configured"
    assert result.status["Components"]["TLS"]["Result"] == "Success"
    state = device.state
    assert state.tls_committed and all(setting.flag("Enabled") for setting in state.tls_settings)
    assert state.tls_settings[0].get("AcceptNonSecureConnections") == "true"  # mode 2 keeps non-TLS
    issued_pem = device_secret(rps_server, device.identity.uuid)["TLS_ISSUED_CERTIFICATE"]
    leaf = x509.load_pem_x509_certificate(issued_pem.encode())
    leaf.verify_directly_issued_by(mps_ca)
    in_context = state.tls_credential_context.values("ElementInContext")[0]  # type: ignore[union-attr]
    served = next(c for c in state.certificates if c.instance_id == in_context.selectors["InstanceID"])
    assert served.der == leaf.public_bytes(serialization.Encoding.DER)
    assert any(certificate.trusted_root for certificate in state.certificates)
    assert_nowhere_in_database_or_log(rps_server, *MPS_ROOT_KEY_LINES)


async def test_cira_with_a_generated_mps_password(rps_server: RpsServer) -> None:
    cira = create_cira_config(rps_server)
    profile = create_ccm_profile(rps_server, ciraConfigName=cira)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("cira-")))
    guid = device.identity.uuid
    calls_before = len(rps_server.mps.requests)
    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message
    assert result.status["CIRAConnection"] == "Configured"
    assert result.status["Components"]["CIRAConnection"]["Result"] == "Success"
    secret = device_secret(rps_server, guid)
    mps_password = secret["MPS_PASSWORD"]
    state = device.state
    assert state.mps_servers[0].get("Password") == mps_password
    assert state.mps_servers[0].get("Username") == "mpsadmin"
    assert state.mps_servers[0].get("AccessInfo") == "mps.example.com"
    assert sorted(rule.get("PolicyRuleName") for rule in state.remote_access_policy_rules) == [
        "Periodic",
        "User Initiated",
    ]
    assert {entry.get("MpsType") for entry in state.policy_applies_to_mps} == {"2"}
    assert state.user_initiated_connection_state == 32771
    assert state.environment_detection.values("DetectionStrings")[0].endswith(".com")
    posts = [call.body for call in rps_server.mps.requests[calls_before:] if call.method == "POST"]
    # Registration, the CIRA step's own POST, then the final outcome (§4.5). Only the CIRA POST
    # names the MPS user; the others leave the key out so MPS's merge keeps it (correction 11).
    assert [body.get("mpsusername") for body in posts] == [None, "mpsadmin", None]
    assert "mpsusername" not in posts[0] and "mpsusername" not in posts[2]
    assert posts[1]["guid"] == guid
    assert posts[2]["deviceInfo"]["status"]["CIRAConnection"]["Result"] == "Success"
    assert_nowhere_in_database_or_log(rps_server, mps_password, secret["AMT_PASSWORD"])
    # A second device gets its own MPS password.
    other = VirtualAmtDevice(DeviceIdentity())
    assert (await activate(rps_server, other, profile)).exit_code == 0
    assert device_secret(rps_server, other.identity.uuid)["MPS_PASSWORD"] != mps_password


@pytest.mark.parametrize(("kvm", "sol", "ider"), [(True, False, False), (False, True, True), (False, False, False)])
async def test_amt_features(rps_server: RpsServer, kvm: bool, sol: bool, ider: bool) -> None:
    profile = create_ccm_profile(rps_server, kvmEnabled=kvm, solEnabled=sol, iderEnabled=ider, userConsent="All")
    device = VirtualAmtDevice(DeviceIdentity())
    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message
    state = device.state
    assert (state.kvm_enabled, state.sol_enabled, state.ider_enabled) == (kvm, sol, ider)
    assert state.redirection.get("ListenerEnabled") == ("true" if kvm or sol or ider else "false")
    assert state.user_consent_required == 4294967295


async def test_reactivation_with_another_profile_leaves_only_the_new_configuration(rps_server: RpsServer) -> None:
    first = create_ccm_profile(
        rps_server,
        wifiConfigs=[{"profileName": create_psk_wifi(rps_server, canary("psk")), "priority": 1}],
        proxyConfigs=[{"name": create_proxy(rps_server), "priority": 1}],
        ieee8021xProfileName=create_ieee8021x(rps_server, canary("dot1x"), wired=True),
        ciraConfigName=create_cira_config(rps_server),
    )
    new_wifi = create_psk_wifi(rps_server, canary("psk"))
    second = create_ccm_profile(rps_server, wifiConfigs=[{"profileName": new_wifi, "priority": 3}])
    device = VirtualAmtDevice(DeviceIdentity())
    async with serve_device(device) as endpoint:
        rpc = ["activate", "-u", rps_server.wss_url, "-cafile", str(rps_server.ca_file)]
        result = await run_rpc([*rpc, "-profile", first], device_endpoint=endpoint)
        assert result.exit_code == 0, result.message
        assert device.state.mps_servers and device.state.proxy_access_points
        assert device.state.ieee8021x.get("Enabled") == "2"
        password = device_secret(rps_server, device.identity.uuid)["AMT_PASSWORD"]

        result = await run_rpc([*rpc, "-profile", second, "-password", password], device_endpoint=endpoint)
        assert result.exit_code == 0, result.message
    state = device.state
    assert state.control_mode == ControlMode.CCM
    assert state.wifi_profile_names == [new_wifi]
    assert state.proxy_access_points == [] and state.mps_servers == []
    assert state.remote_access_policy_rules == [] and state.policy_applies_to_mps == []
    assert state.ieee8021x.get("Enabled") == "3"
    assert not any(certificate.trusted_root for certificate in state.certificates)
    assert state.environment_detection.get("DetectionStrings") is None
    assert result.status["CIRAConnection"] == "unconfigured"
    assert components(result)["CIRAConnection"] == "NotApplicable"


async def test_a_wifi_soap_fault_fails_that_component_while_the_others_complete(rps_server: RpsServer) -> None:
    first, second = create_psk_wifi(rps_server, canary("psk")), create_psk_wifi(rps_server, canary("psk"))
    profile = create_ccm_profile(
        rps_server,
        wifiConfigs=[{"profileName": first, "priority": 1}, {"profileName": second, "priority": 2}],
        proxyConfigs=[{"name": create_proxy(rps_server), "priority": 1}],
        kvmEnabled=True,
        userConsent="All",
    )
    device = VirtualAmtDevice(DeviceIdentity())
    device.faults.add(Fault.soap_fault(call="AMT_WiFiPortConfigurationService.AddWiFiSettings", skip=1))
    result = await activate(rps_server, device, profile)
    assert result.outcome == "error"  # correction 5: a failed component never ends in plain success
    assert components(result) == {
        "Activation": "Success",
        "WiredNetwork": "Success",
        "WirelessNetwork": "Failure",
        "TLS": "NotApplicable",
        "CIRAProxy": "Success",
        "CIRAConnection": "NotApplicable",
    }
    wireless = result.status["Components"]["WirelessNetwork"]["Details"]
    assert wireless == f"Added {first} WiFi Profiles. Failed to add {second}"
    assert device.state.control_mode == ControlMode.CCM
    assert device.state.wifi_profile_names == [first] and device.state.kvm_enabled
    assert len(device.state.proxy_access_points) == 1
    # The run history records the same outcome per component.
    import psycopg

    with psycopg.connect(rps_server.database_url.replace("postgres://", "postgresql://")) as connection:
        steps = dict(
            connection.execute(
                """select s.name, s.outcome from devices_runstep s join devices_provisioningrun r on r.id = s.run_id
                   join devices_device d on d.id = r.device_id where d.guid = %s""",
                (device.identity.uuid.lower(),),
            ).fetchall()
        )
    assert steps["configure WirelessNetwork"] == "failure"
    assert steps["configure WiredNetwork"] == "success" and steps["configure CIRAProxy"] == "success"


async def test_eap_tls_reports_the_missing_enterprise_assistant(rps_server: RpsServer) -> None:
    wired = create_ieee8021x(rps_server, canary("x"), wired=True, protocol=0)
    profile = create_ccm_profile(rps_server, ieee8021xProfileName=wired)
    device = VirtualAmtDevice(DeviceIdentity())
    result = await activate(rps_server, device, profile)
    wired_result = result.status["Components"]["WiredNetwork"]
    # No EA is connected to this server: upstream's text for the step, at once (B2).
    assert wired_result == {
        "Result": "Failure",
        "Details": "Failed to initiate cert request with enterprise assistant in 802.1x",
    }
    assert device.state.control_mode == ControlMode.CCM


@pytest.mark.parametrize(("consent", "code"), [("None", 0), ("KVM", 1)])
async def test_user_consent_in_admin_control_mode(rps_server: RpsServer, consent: str, code: int) -> None:
    """Client control mode always requires consent for everything; ACM profiles may relax it."""
    suffix = f"{unique('acme')}.example.com"
    chain = make_provisioning_chain(suffix)
    api_post(
        rps_server,
        "/domains",
        {
            "profileName": unique("dom"),
            "domainSuffix": suffix,
            "provisioningCert": base64.b64encode(chain.pfx("Pfx-Passw0rd!")).decode(),
            "provisioningCertStorageFormat": "raw",
            "provisioningCertPassword": "Pfx-Passw0rd!",
        },
    )
    profile = unique("acm")
    api_post(
        rps_server,
        "/profiles",
        {
            "profileName": profile,
            "activation": "acmactivate",
            "generateRandomPassword": True,
            "generateRandomMEBxPassword": True,
            "dhcpEnabled": True,
            "userConsent": consent,
            "kvmEnabled": True,
            "solEnabled": True,
            "iderEnabled": False,
        },
    )
    device = VirtualAmtDevice(DeviceIdentity(dns_suffix=suffix, trusted_root_hashes=[chain.root_sha256]))
    result = await activate(rps_server, device, profile)
    assert result.exit_code == 0, result.message
    assert device.state.control_mode == ControlMode.ACM
    assert device.state.user_consent_required == code
    assert device.state.kvm_enabled and device.state.sol_enabled and not device.state.ider_enabled
