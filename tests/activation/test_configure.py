"""Post-activation configuration flows (protocol.md §4.6-4.10) against an amtsim device, in process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from activation.flows.configure import configure_device
from activation.flows.network import wireless_limit_violations
from activation.plan.configuration_plan import (
    USER_CONSENT_CODES,
    CiraPlan,
    ConfigurationPlan,
    FeaturesPlan,
    Ieee8021xPlan,
    MpsCertificateAuthority,
    ProxyPlan,
    TlsPlan,
    WirelessPlan,
    mps_certificate_authority,
)
from activation.protocol.status import ActivationStatus, Component, ComponentResult
from activation.wsman import setup
from amtsim import ControlMode, DeviceIdentity, Fault, VirtualAmtDevice
from amtsim.device.state import CimInstance, management_presence_reference, policy_rule_reference
from rps_site.sensitive import Secret
from rps_site.vault import StoredSecret
from tests.activation.amtsim_link import admin_session
from tests.ca_certificates import self_signed_ca

PASSWORD = "Adm1n!Passw0rd"
PSK = "psk-canary-7f3a9c"
DOT1X_PASSWORD = "dot1x-canary-51be"
MPS_PASSWORD = "Mps!Canary9zz"


@dataclass
class Secrets:
    events: list[str] = field(default_factory=list)
    device: VirtualAmtDevice | None = None
    fail: bool = False

    async def write_mps_password(self, guid: str, mps_password: Secret) -> None:
        if self.fail:
            raise ConnectionError("vault down")
        mps_servers = len(self.device.state.mps_servers) if self.device else 0
        self.events.append(f"MPS_PASSWORD={mps_password.reveal()} (mps servers on device: {mps_servers})")

    async def write_tls_certificate(self, guid: str, certificate_pem: str) -> None:
        self.events.append("TLS_ISSUED_CERTIFICATE")
        self.certificate_pem = certificate_pem

    async def read_tls_certificate(self, guid: str) -> str | None:
        return getattr(self, "certificate_pem", None)


@dataclass
class Progress:
    texts: list[str] = field(default_factory=list)

    async def report(self, text: str) -> None:
        self.texts.append(text)


@dataclass
class Outcome:
    ok: bool
    detail: str = ""


@dataclass
class Mps:
    ok: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)

    async def register_device(self, record: dict[str, Any]) -> Outcome:
        self.records.append(record)
        return Outcome(self.ok, "MPS answered 200" if self.ok else "MPS answered 500")


async def no_pause(_: float = 0.0) -> None:
    return None


def base_plan(guid: str, **changes: Any) -> ConfigurationPlan:
    plan = ConfigurationPlan(
        profile_name="office",
        tenant_id="",
        device_guid=guid,
        hostname="pc-1",
        tags=("e2e",),
        tls_enforced=False,
        dhcp_enabled=True,
        ip_sync_enabled=True,
        wired_ieee8021x=None,
        wireless=(),
        local_wifi_sync_enabled=False,
        uefi_wifi_sync_enabled=False,
        proxies=(),
        features=FeaturesPlan(kvm=True, sol=True, ider=True, user_consent=USER_CONSENT_CODES["All"]),
    )
    return dataclasses.replace(plan, **changes)


def peap(name: str = "corp8021x") -> Ieee8021xPlan:
    return Ieee8021xPlan(
        name=name, authentication_protocol=2, username="alice", password=Secret(DOT1X_PASSWORD), pxe_timeout=120
    )


def wifi_psk(name: str = "homewifi", priority: int = 1) -> WirelessPlan:
    return WirelessPlan(name, f"ssid-{name}", priority, 6, 4, psk_passphrase=Secret(PSK))


def wifi_8021x(name: str = "corpwifi", priority: int = 2) -> WirelessPlan:
    return WirelessPlan(name, "corp", priority, 7, 4, ieee8021x=peap("wifi8021x"))


async def run(device: VirtualAmtDevice, plan: ConfigurationPlan, **kwargs: Any):  # type: ignore[no-untyped-def]
    amt, link = admin_session(device, PASSWORD)
    secrets = kwargs.pop("secrets", Secrets(device=device))
    status = ActivationStatus(status="Client control mode.")
    steps = await configure_device(
        amt, plan, secrets, Progress(), status, mps=kwargs.pop("mps", Mps()), pause=no_pause, **kwargs
    )
    return status, steps, secrets, link


def activated_device(**identity: Any) -> VirtualAmtDevice:
    return VirtualAmtDevice.activated(DeviceIdentity(**identity), admin_password=PASSWORD)


def result(status: ActivationStatus, component: Component) -> ComponentResult:
    return status.components[component].result


# ---------------------------------------------------------------------------------------------


async def test_dhcp_wired_two_wifi_profiles_proxy_and_features() -> None:
    device = activated_device()
    plan = base_plan(
        device.identity.uuid,
        wired_ieee8021x=peap(),
        wireless=(wifi_psk(), wifi_8021x()),
        local_wifi_sync_enabled=True,
        proxies=(ProxyPlan("proxy1", "proxy.example.com", 201, 8080, "example.com"),),
    )
    status, steps, _, link = await run(device, plan)
    state = device.state

    assert status.network == "Wired Network Configured with 802.1x. Wireless Configured. Proxy Configured"
    for component in (Component.WIRED_NETWORK, Component.WIRELESS_NETWORK, Component.CIRA_PROXY):
        assert result(status, component) is ComponentResult.SUCCESS, status.components[component]
    assert result(status, Component.TLS) is ComponentResult.NOT_APPLICABLE
    assert state.wired_port.get("DHCPEnabled") == "true" and state.wired_port.get("IpSyncEnabled") == "true"
    assert state.ieee8021x.get("Enabled") == "2" and state.ieee8021x.get("Username") == "alice"
    assert state.ieee8021x.get("Password") == DOT1X_PASSWORD
    assert state.wifi_profile_names == ["homewifi", "corpwifi"]
    assert state.wifi_endpoint_settings[0].get("PSKPassPhrase") == PSK
    corp = state.wifi_ieee8021x_settings["Intel(r) AMT:WiFi Endpoint Settings corpwifi"]
    assert (corp.get("Username"), corp.get("Password"), corp.get("AuthenticationProtocol")) == (
        "alice",
        DOT1X_PASSWORD,
        "2",
    )
    assert state.wifi_port_configuration.get("localProfileSynchronizationEnabled") == "3"
    assert state.wifi_port_requested_state == 32769
    assert [p.get("AccessInfo") for p in state.proxy_access_points] == ["proxy.example.com"]
    assert state.kvm_enabled and state.sol_enabled and state.ider_enabled
    assert state.redirection.get("ListenerEnabled") == "true"
    # Secrets went to the device only, never into a step record.
    sent = b"".join(link.sent)
    assert PSK.encode() in sent and DOT1X_PASSWORD.encode() in sent
    assert not any(PSK in step.cause or DOT1X_PASSWORD in step.cause for step in steps)
    assert PSK not in repr(plan) and DOT1X_PASSWORD not in repr(plan)


async def test_network_starts_from_the_general_settings_the_activation_read() -> None:
    """§4.7.1: the AMT_GeneralSettings object comes from §4.1 step 3, not from a second Get."""
    device = activated_device()
    device.state.general_settings.set("AMTNetworkEnabled", "0")
    reader, _ = admin_session(device, PASSWORD)
    settings = await reader.call(setup.get_general_settings())

    status, _, _, link = await run(device, base_plan(device.identity.uuid), general_settings=settings)

    assert result(status, Component.WIRED_NETWORK) is ComponentResult.SUCCESS
    assert not any(b"AMT_GeneralSettings" in request and b"/transfer/Get<" in request for request in link.sent)
    assert device.state.general_settings.get("AMTNetworkEnabled") == "1"  # the Put still went out


async def test_static_with_ip_sync_and_static_without() -> None:
    device = activated_device()
    status, _, _, _ = await run(device, base_plan(device.identity.uuid, dhcp_enabled=False, ip_sync_enabled=True))
    port = device.state.wired_port
    assert (port.get("DHCPEnabled"), port.get("IpSyncEnabled"), port.get("SharedStaticIp")) == ("false", "true", "true")
    assert port.get("IPAddress") is None
    assert status.components[Component.WIRED_NETWORK].details == "Wired Network Configured"

    device = activated_device()
    device.state.wired_port.set("DHCPEnabled", "false")
    status, _, _, _ = await run(device, base_plan(device.identity.uuid, dhcp_enabled=False, ip_sync_enabled=False))
    port = device.state.wired_port
    assert (port.get("DHCPEnabled"), port.get("IpSyncEnabled"), port.get("SharedStaticIp")) == (
        "false",
        "false",
        "false",
    )
    assert port.get("IPAddress") == "192.168.6.20"


async def test_features_listener_follows_the_wanted_state() -> None:
    device = activated_device()
    plan = base_plan(
        device.identity.uuid, features=FeaturesPlan(kvm=True, sol=False, ider=False, user_consent=4294967295)
    )
    await run(device, plan)
    assert device.state.kvm_enabled and not device.state.sol_enabled and not device.state.ider_enabled
    assert device.state.redirection.get("ListenerEnabled") == "true"  # correction 3

    plan = base_plan(device.identity.uuid, features=FeaturesPlan(kvm=False, sol=False, ider=False, user_consent=0))
    device.state.control_mode = ControlMode.ACM
    await run(device, plan)
    assert not device.state.kvm_enabled and device.state.redirection.get("ListenerEnabled") == "false"
    assert device.state.user_consent_required == 0


async def test_features_failure_is_reported_and_the_rest_still_runs() -> None:
    device = activated_device()
    device.faults.add(Fault.soap_fault(call="AMT_RedirectionService.Put"))
    status, steps, _, _ = await run(device, base_plan(device.identity.uuid, wireless=(wifi_psk(),)))
    assert "AMT features not configured" in status.status
    assert any(s.name == "configure AMT features" and s.outcome.value == "failure" for s in steps)
    assert result(status, Component.WIRELESS_NETWORK) is ComponentResult.SUCCESS


async def test_one_wifi_profile_fault_fails_that_component_only() -> None:
    device = activated_device()
    device.faults.add(Fault.soap_fault(call="AMT_WiFiPortConfigurationService.AddWiFiSettings", skip=1))
    plan = base_plan(
        device.identity.uuid,
        wireless=(wifi_psk(), wifi_psk("second", 2)),
        proxies=(ProxyPlan("proxy1", "10.0.0.9", 3, 3128, "example.com"),),
    )
    status, steps, _, _ = await run(device, plan)
    assert status.components[Component.WIRELESS_NETWORK].result is ComponentResult.FAILURE
    assert status.components[Component.WIRELESS_NETWORK].details == "Added homewifi WiFi Profiles. Failed to add second"
    assert result(status, Component.WIRED_NETWORK) is ComponentResult.SUCCESS
    assert result(status, Component.CIRA_PROXY) is ComponentResult.SUCCESS
    assert device.state.wifi_profile_names == ["homewifi"]
    assert any("second: WS-Man fault" in step.cause for step in steps)


async def test_wifi_limits_are_checked_before_anything_is_sent() -> None:
    device = activated_device()
    plan = base_plan(device.identity.uuid, wireless=(wifi_psk("a", 3), wifi_psk("b", 3)))
    status, _, _, _ = await run(device, plan)
    assert result(status, Component.WIRELESS_NETWORK) is ComponentResult.FAILURE
    assert "priority 3 is used more than once" in status.components[Component.WIRELESS_NETWORK].details
    assert "AMT_WiFiPortConfigurationService.AddWiFiSettings" not in device.call_names
    many = tuple(wifi_psk(f"w{i}", i + 1) for i in range(9))
    assert "AMT stores at most 8" in wireless_limit_violations(many)[0]
    short = dataclasses.replace(wifi_psk(), psk_passphrase=Secret("short"))
    assert "8 to 63" in wireless_limit_violations((short,))[0]


async def test_eap_tls_needs_the_enterprise_assistant() -> None:
    device = activated_device()
    eap_tls = Ieee8021xPlan(
        "tls8021x", 0, "bob", None, 120, problem="802.1X config tls8021x needs the Enterprise Assistant"
    )
    status, _, _, _ = await run(device, base_plan(device.identity.uuid, wired_ieee8021x=eap_tls))
    wired = status.components[Component.WIRED_NETWORK]
    assert wired.result is ComponentResult.FAILURE and "Enterprise Assistant" in wired.details
    assert device.state.ieee8021x.get("Enabled") == "3"


def seed_stale_configuration(device: VirtualAmtDevice) -> None:
    """What an earlier configuration leaves: Wi-Fi, 802.1X, proxy, CIRA, TLS, certificates."""
    state = device.state
    state.ieee8021x.set("Enabled", "2")
    state.wifi_endpoint_settings.append(
        CimInstance(
            "CIM_WiFiEndpointSettings",
            {"ElementName": "old", "InstanceID": "Intel(r) AMT:WiFi Endpoint Settings old", "Priority": "1"},
        )
    )
    state.proxy_access_points.append(
        CimInstance("IPS_HTTPProxyAccessPoint", {"Name": "Intel(r) ME:HTTP Proxy Access Point 9", "AccessInfo": "o"})
    )
    server = "Intel(r) AMT:Management Presence Server 0"
    state.mps_servers.append(
        CimInstance("AMT_ManagementPresenceRemoteSAP", {"Name": server, "AccessInfo": "old-mps.example.com"})
    )
    for name, trigger in (("Periodic", "2"), ("User Initiated", "0")):
        state.remote_access_policy_rules.append(
            CimInstance("AMT_RemoteAccessPolicyRule", {"PolicyRuleName": name, "Trigger": trigger})
        )
        state.policy_applies_to_mps.append(
            CimInstance(
                "AMT_RemoteAccessPolicyAppliesToMPS",
                {"ManagedElement": management_presence_reference(server), "PolicySet": policy_rule_reference(name)},
            )
        )
    state.environment_detection.set("DetectionStrings", "old.example.com")


async def test_stale_configuration_is_removed_and_only_the_new_one_stays() -> None:
    device = activated_device()
    seed_stale_configuration(device)
    # An earlier TLS configuration, made through the flow itself.
    await run(device, base_plan(device.identity.uuid, tls=tls_plan()))
    assert device.state.tls_enabled and device.state.certificates and device.state.key_pairs

    plan = base_plan(device.identity.uuid, wireless=(wifi_psk("newwifi", 5),))
    status, _, _, _ = await run(device, plan)
    state = device.state
    assert state.wifi_profile_names == ["newwifi"]
    assert state.proxy_access_points == [] and state.mps_servers == []
    assert state.remote_access_policy_rules == [] and state.policy_applies_to_mps == []
    assert state.ieee8021x.get("Enabled") == "3"
    assert not state.tls_enabled and state.tls_credential_context is None
    assert state.certificates == [] and state.key_pairs == []
    assert state.environment_detection.get("DetectionStrings") is None
    assert status.tls_configuration == "unconfigured"
    assert not status.any_component_failed, status.components


# ---------------------------------------------------------------------------------------------
# CIRA
# ---------------------------------------------------------------------------------------------


def cira_plan() -> CiraPlan:
    root, _ = self_signed_ca("MPSRoot")
    return CiraPlan(
        config_name="cira1",
        server_address="mps.example.com",
        address_format=201,
        port=4433,
        username="mpsuser",
        common_name="",
        root_certificate_der=root.public_bytes(serialization.Encoding.DER),
        mps_password=Secret(MPS_PASSWORD),
        detection_domain="3f2a.com",
    )


async def test_cira_stores_the_mps_password_before_the_device_uses_it() -> None:
    device = activated_device()
    mps = Mps()
    status, steps, secrets, _ = await run(
        device, base_plan(device.identity.uuid, cira=cira_plan()), mps=mps, mps_record={"dnsSuffix": "x"}
    )
    assert status.cira_connection == "Configured"
    assert result(status, Component.CIRA_CONNECTION) is ComponentResult.SUCCESS
    assert secrets.events == [f"MPS_PASSWORD={MPS_PASSWORD} (mps servers on device: 0)"]
    state = device.state
    assert state.mps_servers[0].get("Password") == MPS_PASSWORD and state.mps_servers[0].get("Username") == "mpsuser"
    assert sorted(rule.get("PolicyRuleName") for rule in state.remote_access_policy_rules) == [
        "Periodic",
        "User Initiated",
    ]
    assert {entry.get("MpsType") for entry in state.policy_applies_to_mps} == {"2"}
    assert state.user_initiated_connection_state == 32771
    assert state.environment_detection.values("DetectionStrings") == ["3f2a.com"]
    assert any(certificate.trusted_root for certificate in state.certificates)
    assert mps.records == [
        {
            "dnsSuffix": "x",
            "mpsusername": "mpsuser",
            "guid": device.identity.uuid,
            "hostname": "pc-1",
            "tags": ["e2e"],
            "tenantId": "",
        }
    ]
    assert not any(MPS_PASSWORD in step.cause for step in steps)


async def test_cira_mps_failure_is_reported_after_the_password_is_stored() -> None:
    device = activated_device()
    status, steps, secrets, _ = await run(device, base_plan(device.identity.uuid, cira=cira_plan()), mps=Mps(ok=False))
    assert status.cira_connection == "Failed to save device to mps"
    assert result(status, Component.CIRA_CONNECTION) is ComponentResult.FAILURE
    assert any(step.cause == "Failed to save device to mps: MPS answered 500" for step in steps)
    assert secrets.events and device.state.mps_servers == []


async def test_cira_vault_failure_never_reaches_the_device() -> None:
    device = activated_device()
    secrets = Secrets(device=device, fail=True)
    status, _, _, _ = await run(device, base_plan(device.identity.uuid, cira=cira_plan()), secrets=secrets)
    assert result(status, Component.CIRA_CONNECTION) is ComponentResult.FAILURE
    assert "AMT_RemoteAccessService.AddMpServer" not in device.call_names


# ---------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------


def tls_plan(mode: int = 2) -> TlsPlan:
    ca, key = self_signed_ca("MPSRoot")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    ca_der = ca.public_bytes(serialization.Encoding.DER)
    return TlsPlan(mode, trusted_root_der=ca_der, authority=MpsCertificateAuthority(ca_der, Secret(key_pem)))


async def test_tls_with_a_certificate_signed_by_the_mps_ca() -> None:
    device = activated_device()
    plan = tls_plan(mode=1)
    status, _, secrets, _ = await run(device, base_plan(device.identity.uuid, tls=plan))
    assert status.tls_configuration == "Configured", status.components[Component.TLS]
    assert result(status, Component.TLS) is ComponentResult.SUCCESS
    state = device.state
    assert state.tls_committed and all(setting.flag("Enabled") for setting in state.tls_settings)
    assert state.tls_settings[0].get("AcceptNonSecureConnections") == "false"
    assert state.tls_settings[0].get("MutualAuthentication") == "false"
    leaf = x509.load_pem_x509_certificate(secrets.certificate_pem.encode())
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "AMT-pc-1"
    ca = x509.load_der_x509_certificate(plan.trusted_root_der or b"")
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    in_context = state.tls_credential_context.values("ElementInContext")[0]  # type: ignore[union-attr]
    stored = next(c for c in state.certificates if c.instance_id == in_context.selectors["InstanceID"])
    assert stored.der == leaf.public_bytes(serialization.Encoding.DER)
    assert state.time_sync.tm1 is not None


async def test_tls_is_kept_only_while_the_device_presents_the_issued_certificate() -> None:
    """§5.5: in the tunnel, the leaf AMT presents is compared with `TLS_ISSUED_CERTIFICATE`."""
    device = activated_device()
    secrets = Secrets(device=device)
    # TLS-enforced (AMT 19+): the clean-up of §4.6 leaves TLS alone, as through any tunnel.
    plan = base_plan(device.identity.uuid, tls=tls_plan(mode=1), tls_enforced=True)
    status, _, _, _ = await run(device, plan, secrets=secrets)
    assert status.tls_configuration == "Configured"
    issued = x509.load_pem_x509_certificate(secrets.certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    key_pairs = len(device.state.key_pairs)

    async def reconfigure(presented: bytes | None) -> ActivationStatus:
        amt, link = admin_session(device, PASSWORD)
        link.presented_leaf = presented  # type: ignore[attr-defined]  # what a tunnel session showed
        status = ActivationStatus(status="Client control mode.")
        await configure_device(amt, plan, secrets, Progress(), status, mps=Mps(), pause=no_pause)
        return status

    assert (await reconfigure(issued)).tls_configuration == "Already configured"
    assert len(device.state.key_pairs) == key_pairs  # nothing generated again
    # Another certificate (replaced by someone else) or none seen (plain port): provisioned again.
    assert (await reconfigure(issued[:-1] + b"\x00")).tls_configuration == "Configured"
    assert (await reconfigure(None)).tls_configuration == "Configured"


async def test_tls_without_the_mps_ca_names_the_cause() -> None:
    device = activated_device()
    plan = TlsPlan(2, problem="Failed to fetch MPS root key for post-provisioning TLS")
    status, _, _, _ = await run(device, base_plan(device.identity.uuid, tls=plan, wireless=(wifi_psk(),)))
    assert status.tls_configuration == "Failed to fetch MPS root key for post-provisioning TLS"
    assert result(status, Component.TLS) is ComponentResult.FAILURE
    assert result(status, Component.WIRELESS_NETWORK) is ComponentResult.SUCCESS
    assert not device.state.tls_enabled


def test_mps_certificate_authority_reads_the_layout_mps_writes() -> None:
    ca, key = self_signed_ca("MPSRoot")
    other, _ = self_signed_ca("Other")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    ca_pem = ca.public_bytes(serialization.Encoding.PEM).decode()
    other_pem = other.public_bytes(serialization.Encoding.PEM).decode()
    # The secret store hands nested objects back as text (Python's str of a dict).
    values = {
        "root_key": Secret(key_pem),
        "mps_tls_config": Secret(str({"cert": other_pem, "key": "x", "ca": other_pem})),
        "web_tls_config": Secret(str({"cert": other_pem, "key": "x", "ca": ca_pem})),
    }
    authority = mps_certificate_authority(StoredSecret(values=values, version=1))
    assert authority is not None and authority.certificate_der == ca.public_bytes(serialization.Encoding.DER)
    assert key_pem not in repr(authority)
    assert mps_certificate_authority(StoredSecret(values={"root_key": Secret(key_pem)}, version=1)) is None
    assert mps_certificate_authority(None) is None


def test_wifi_8021x_profile_carries_its_settings_input() -> None:
    from activation.wsman import network

    call = network.add_wifi_settings(
        network.WifiProfile(
            name="corpwifi",
            ssid="corp",
            priority=2,
            authentication=network.WifiAuthentication.WPA2_IEEE8021X,
            encryption=network.WifiEncryption.CCMP,
            ieee8021x=network.WifiIeee8021x("wifi8021x", 2, "alice", Secret("p<w>")),
        )
    )
    xml = call.request.render(0)
    assert (
        '<h:IEEE8021xSettingsInput xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_IEEE8021xSettings">'
        "<q:ElementName>wifi8021x</q:ElementName>"
        "<q:InstanceID>Intel(r) AMT:IEEE 802.1x Settings wifi8021x</q:InstanceID>"
        "<q:AuthenticationProtocol>2</q:AuthenticationProtocol><q:Username>alice</q:Username>"
        "<q:Password>p&lt;w&gt;</q:Password></h:IEEE8021xSettingsInput>"
    ) in xml
    assert "PSKPassPhrase" not in xml
    eap_tls = network.WifiIeee8021x("t", 0, "bob", Secret("never-sent"))
    assert "never-sent" not in network._wifi_ieee8021x_input(eap_tls).properties.__repr__()
