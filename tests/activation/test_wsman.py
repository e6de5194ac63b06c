"""WS-Man request envelopes (protocol.md §3.2) and typed parsing of every recorded fixture."""

from __future__ import annotations

import re
from typing import TypeVar

import pytest

from activation.wsman import certificates, features, network, proxies, remote_access, setup, time_sync
from activation.wsman.call import Enumeration, WsmanCall
from activation.wsman.envelope import CimObject
from activation.wsman.response import (
    UnsafeXml,
    WsmanFault,
    WsmanParseError,
    parse_fault,
    parse_pull_response,
    parse_soap,
)
from rps_site.sensitive import Secret
from tests.activation.scripted_device import fixture

T = TypeVar("T")

ENVELOPE_START = (
    '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">'
)
REALM = "Digest:A4070000000000000000000000000000"


def answer(call: WsmanCall[T], name: str) -> T:
    return call.parse(parse_soap(fixture(name)))


def pulled(enumeration: Enumeration[T], name: str) -> list[T]:
    return enumeration.items_of(parse_pull_response(parse_soap(fixture(name))))


def test_password_encodings_match_the_spec_example() -> None:
    assert setup.admin_password_hash(REALM, Secret("P@ssw0rd")).reveal() == "6ab9192fba58a04d5e0c4df89b9a4350"
    assert setup.admin_digest_password(REALM, Secret("P@ssw0rd")).reveal() == "arkZL7pYoE1eDE34m5pDUA=="


def test_setup_envelope_is_byte_exact() -> None:
    call = setup.setup(Secret("bebb3497d69b544c732651365cc3462d"))
    uri = "http://intel.com/wbem/wscim/1/ips-schema/1/IPS_HostBasedSetupService"
    assert call.non_idempotent
    assert call.request.render(0) == (
        f"{ENVELOPE_START}<Header><a:Action>{uri}/Setup</a:Action><a:To>/wsman</a:To>"
        f"<w:ResourceURI>{uri}</w:ResourceURI><a:MessageID>0</a:MessageID><a:ReplyTo><a:Address>"
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        "<w:OperationTimeout>PT60S</w:OperationTimeout></Header>"
        f'<Body><h:Setup_INPUT xmlns:h="{uri}"><h:NetAdminPassEncryptionType>2</h:NetAdminPassEncryptionType>'
        "<h:NetworkAdminPassword>bebb3497d69b544c732651365cc3462d</h:NetworkAdminPassword></h:Setup_INPUT></Body>"
        "</Envelope>"
    )


def test_get_enumerate_pull_and_delete_bodies() -> None:
    assert setup.get_general_settings().request.render(3).endswith("</Header><Body></Body></Envelope>")
    enumerate_xml = network.ETHERNET_PORT_SETTINGS.enumerate_call().request.render(1)
    assert "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action>" in enumerate_xml
    assert enumerate_xml.endswith(
        '<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body></Envelope>'
    )
    pull_xml = network.ETHERNET_PORT_SETTINGS.pull_call("AC070000-0000").request.render(2)
    assert pull_xml.endswith(
        '<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>AC070000-0000'
        "</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull></Body>"
        "</Envelope>"
    )
    delete_xml = certificates.delete_certificate("Intel(r) AMT Certificate: Handle: 1").request.render(0)
    assert (
        '<w:OperationTimeout>PT60S</w:OperationTimeout><w:SelectorSet><w:Selector Name="InstanceID">'
        "Intel(r) AMT Certificate: Handle: 1</w:Selector></w:SelectorSet></Header><Body></Body>" in delete_xml
    )


def test_values_are_escaped() -> None:
    xml = setup.set_mebx_password(Secret("P<&>ss1!")).request.render(0)
    assert "<h:Password>P&lt;&amp;&gt;ss1!</h:Password>" in xml
    parse_soap(xml.encode())  # well-formed


def test_general_settings_get_and_put_echo() -> None:
    settings = answer(setup.get_general_settings(), "AMT_GeneralSettings_Get.xml")
    assert settings.has_valid_digest_realm and settings.network_ready
    assert (settings.host_name, settings.amt_network_enabled) == ("Test Host Name", 1)
    put = setup.put_general_settings(settings, shared_fqdn=False, host_name="new-host")
    xml = put.request.render(5)
    assert "<h:SharedFQDN>false</h:SharedFQDN>" in xml and "<h:HostName>new-host</h:HostName>" in xml
    assert "<h:DigestRealm>Digest:F3EB554784E729164447A89F60B641C5</h:DigestRealm>" in xml  # echoed
    assert "<w:SelectorSet>" not in xml  # GeneralSettings Put carries no selector
    recorded = answer(setup.get_general_settings(), "AMT_GeneralSettings_Get_AMT15_rps.xml")
    assert recorded.digest_realm == "Digest:62FFAC181B3F3457C5B3894ED21F3E6E" and recorded.host_name == ""


def test_host_based_setup_and_method_outputs() -> None:
    state = answer(setup.get_host_based_setup(), "IPS_HostBasedSetupService_Get.xml")
    assert state.current_control_mode == 2 and state.allowed_control_modes == (2, 1)
    assert len(state.configuration_nonce) == 20
    for call, name in [
        (setup.setup(Secret("x")), "IPS_HostBasedSetupService_Setup.xml"),
        (
            setup.admin_setup(Secret("x"), mc_nonce=b"1" * 20, signature=b"s"),
            "IPS_HostBasedSetupService_AdminSetup.xml",
        ),
        (
            setup.upgrade_client_to_admin(mc_nonce=b"1" * 20, signature=b"s"),
            "IPS_HostBasedSetupService_UpgradeClientToAdmin.xml",
        ),
        (
            setup.add_next_cert_in_chain(b"der", is_leaf=True, is_root=False),
            "IPS_HostBasedSetupService_AddNextCertInChain.xml",
        ),
        (setup.unprovision(), "AMT_SetupAndConfigurationService_Unprovision.xml"),
        (setup.commit_changes(), "AMT_SetupAndConfigurationService_CommitChanges.xml"),
        (setup.set_mebx_password(Secret("x")), "AMT_SetupAndConfigurationService_SetMEBxPassword.xml"),
        (setup.set_admin_acl_entry_ex(REALM, Secret("x")), "AMT_AuthorizationService_SetAdminAclEntryEx.xml"),
        (
            time_sync.set_high_accuracy_time_synch(ta0=1, tm1=2, tm2=2),
            "AMT_TimeSynchronizationService_SetHighAccuracyTimeSynch.xml",
        ),
        (network.enable_wifi_port(), "CIM_WiFiPort_RequestStateChange.xml"),
        (
            proxies.add_proxy_access_point(
                address="p", address_format=network.AddressFormat.FQDN, port=1, network_dns_suffix="s"
            ),
            "IPS_HTTPProxyService_AddProxyAccessPoint.xml",
        ),
        (features.request_redirection_state(32771), "AMT_RedirectionService_RequestStateChange.xml"),
        (
            remote_access.enable_user_initiated_connections(),
            "AMT_UserInitiatedConnectionService_RequestStateChange.xml",
        ),
    ]:
        result = answer(call, name)  # type: ignore[arg-type]
        assert isinstance(result.return_value, int), name
    assert answer(setup.unprovision(), "AMT_SetupAndConfigurationService_Unprovision.xml").succeeded
    assert answer(setup.commit_changes(), "AMT_SetupAndConfigurationService_CommitChanges.xml").succeeded
    assert setup.commit_changes().timeout == 15.0
    assert answer(setup.get_setup_and_configuration(), "AMT_SetupAndConfigurationService_Get.xml").provisioning_mode


def test_admin_setup_parameters_in_order() -> None:
    xml = setup.admin_setup(Secret("abc"), mc_nonce=b"\x01" * 20, signature=b"\x02" * 4).request.render(0)
    names = re.findall(r"<h:(\w+)>", xml.split("<Body>")[1])
    assert names == [
        "NetAdminPassEncryptionType",
        "NetworkAdminPassword",
        "McNonce",
        "SigningAlgorithm",
        "DigitalSignature",
    ]


def test_time_synchronization() -> None:
    reading = answer(
        time_sync.get_low_accuracy_time_synch(), "AMT_TimeSynchronizationService_GetLowAccuracyTimeSynch.xml"
    )
    assert (reading.return_value, reading.ta0) == (0, 1704586865)
    xml = time_sync.set_high_accuracy_time_synch(ta0=1, tm1=2, tm2=3).request.render(0)
    assert "<h:Ta0>1</h:Ta0><h:Tm1>2</h:Tm1><h:Tm2>3</h:Tm2>" in xml


def test_ethernet_port_settings_pull_and_put() -> None:
    wired, wireless = pulled(network.ETHERNET_PORT_SETTINGS, "AMT_EthernetPortSettings_Pull.xml")
    assert wired.is_wired and wired.exists and wired.dhcp_enabled and wired.ip_sync_enabled
    assert wireless.is_wireless and wireless.mac_address == "00-00-00-00-00-00"
    put = network.put_ethernet_port_settings(
        wired, dhcp_enabled=True, ip_sync_enabled=True, shared_static_ip=False, remove_ip_fields=True
    )
    xml = put.request.render(0)
    assert '<w:Selector Name="InstanceID">Intel(r) AMT Ethernet Port Settings 0</w:Selector>' in xml
    assert "DefaultGateway" not in xml and "<h:LinkPolicy>1</h:LinkPolicy><h:LinkPolicy>14</h:LinkPolicy>" in xml
    applied = answer(put, "AMT_EthernetPortSettings_Put.xml")
    assert applied.shared_static_ip and applied.ip_address == "192.168.0.24"


def test_ieee8021x_wifi_and_boot() -> None:
    settings = answer(network.get_ieee8021x_settings(), "IPS_IEEE8021xSettings_Get.xml")
    assert settings.enabled == 3 and not settings.is_enabled
    assert "<h:Enabled>3</h:Enabled>" in network.disable_ieee8021x(settings).request.render(0)
    profiles = pulled(network.WIFI_ENDPOINT_SETTINGS, "CIM_WiFiEndpointSettings_Pull.xml")
    assert profiles[0].instance_id == "Test" and profiles[0].priority == 1
    configuration = answer(network.get_wifi_port_configuration(), "AMT_WiFiPortConfigurationService_Get.xml")
    assert configuration.local_profile_synchronization_enabled == 0
    assert not configuration.uefi_wifi_profile_share_enabled
    assert not answer(
        network.get_boot_capabilities(), "AMT_BootCapabilities_Get.xml"
    ).uefi_wifi_coexistence_and_profile_share
    add = network.add_wifi_settings(
        network.WifiProfile(
            name="office",
            ssid="Office & Lab",
            priority=1,
            authentication=network.WifiAuthentication.WPA2_PSK,
            encryption=network.WifiEncryption.CCMP,
            psk_passphrase=Secret("p<ss>&"),
        )
    )
    xml = add.request.render(0)
    assert "<q:SSID>Office &amp; Lab</q:SSID>" in xml and "<q:PSKPassPhrase>p&lt;ss&gt;&amp;</q:PSKPassPhrase>" in xml
    assert 'xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_WiFiEndpointSettings"' in xml
    assert answer(add, "AMT_WiFiPortConfigurationService_AddWiFiSettings.xml").succeeded


def test_features() -> None:
    redirection = answer(features.get_redirection_service(), "AMT_RedirectionService_Get.xml")
    assert redirection.sol_enabled and redirection.ider_enabled and redirection.listener_enabled
    assert features.redirection_state(sol=True, ider=False) == 32770
    assert answer(features.get_kvm_redirection(), "CIM_KVMRedirectionSAP_Get.xml").enabled  # 6 counts as on
    assert answer(features.get_opt_in_service(), "IPS_OptInService_Get.xml").opt_in_required == 0


def test_certificates_and_tls() -> None:
    certs = pulled(certificates.PUBLIC_KEY_CERTIFICATES, "AMT_PublicKeyCertificate_Pull.xml")
    assert certs[0].trusted_root and not certs[1].trusted_root
    keys = pulled(certificates.PUBLIC_PRIVATE_KEY_PAIRS, "AMT_PublicPrivateKeyPair_Pull.xml")
    assert [key.instance_id for key in keys] == ["Intel(r) AMT Key: Handle: 0", "Intel(r) AMT Key: Handle: 1"]
    created = answer(certificates.add_certificate(b"der"), "AMT_PublicKeyManagementService_AddCertificate.xml")
    assert created.instance_id == "Intel(r) AMT Certificate: Handle: 1"
    key = answer(certificates.generate_key_pair(), "AMT_PublicKeyManagementService_GenerateKeyPair.xml")
    assert key.instance_id == "Intel(r) AMT Key: Handle: 0"
    answer(
        certificates.add_trusted_root_certificate(b"der"),
        "AMT_PublicKeyManagementService_AddTrustedRootCertificate.xml",
    )
    csr = answer(
        certificates.generate_pkcs10_request_ex(key_pair_instance_id="k", null_signed_request="csr"),
        "AMT_PublicKeyManagementService_GeneratePKCS10RequestEx.xml",
    )
    assert csr.signed_certificate_request == "test?"
    remote, local = pulled(certificates.TLS_SETTING_DATA, "AMT_TLSSettingData_Pull.xml")
    assert remote.is_remote and not local.is_remote and local.accept_non_secure_connections
    put = certificates.put_tls_setting_data(remote, enabled=False, accept_non_secure_connections=True)
    assert put.timeout == 15.0 and "<h:Enabled>false</h:Enabled>" in put.request.render(0)
    assert answer(put, "AMT_TLSSettingData_Put.xml").element_name == "Intel(r) AMT 802.3 TLS Settings"
    contexts = pulled(certificates.TLS_CREDENTIAL_CONTEXTS, "AMT_TLSCredentialContext_Pull.xml")
    assert contexts[0].certificate_instance_id == "Intel(r) AMT Certificate: Handle: 3"
    create_xml = certificates.create_tls_credential_context("Intel(r) AMT Certificate: Handle: 1").request.render(0)
    assert (
        "<h:ElementInContext><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>"
        "http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate</w:ResourceURI>" in create_xml
    )


def test_remote_access() -> None:
    servers = pulled(remote_access.MANAGEMENT_PRESENCE_SERVERS, "AMT_ManagementPresenceRemoteSAP_Pull.xml")
    assert servers[0].name == "Intel(r) AMT:Management Presence Server 0"
    (policy,) = pulled(remote_access.POLICIES_APPLIED_TO_MPS, "AMT_RemoteAccessPolicyAppliesToMPS_Pull.xml")
    assert policy.policy_rule_name == "Periodic"
    put_xml = remote_access.put_policy_applies_to_mps(policy, mps_name=servers[0].name).request.render(0)
    header = put_xml.split("</Header>")[0]
    assert '<w:Selector Name="ManagedElement"><a:EndpointReference><a:Address>' in header
    assert header.count('<w:Selector Name="SystemName">Intel(r) AMT</w:Selector>') == 2
    assert "<h:MpsType>2</h:MpsType>" in put_xml
    parse_soap(put_xml.encode())
    mps_xml = remote_access.add_mp_server(
        address="mps.example.com",
        address_format=network.AddressFormat.FQDN,
        port=4433,
        username="u",
        password=Secret("p"),
        common_name="",
    ).request.render(0)
    assert "<h:CN>" not in mps_xml
    rule_xml = remote_access.add_remote_access_policy_rule(
        trigger=2, tunnel_lifetime=0, extended_data="AAAAAAAAABk=", mps_name="Intel(r) AMT:Management Presence Server 0"
    ).request.render(0)
    assert '<w:Selector Name="Name">Intel(r) AMT:Management Presence Server 0</w:Selector>' in rule_xml
    detection = answer(remote_access.get_environment_detection(), "AMT_EnvironmentDetectionSettingData_Get.xml")
    assert detection.detection_strings == ("b332bb28-ef3a-43b0-b998-342285ac1e26.com", "test.com")
    cleared = remote_access.put_environment_detection(detection, detection_strings=[]).request.render(0)
    assert "DetectionStrings" not in cleared


def test_faults() -> None:
    with pytest.raises(WsmanFault) as caught:
        parse_soap(fixture("SOAPFault_DestinationUnreachable.xml"))
    assert caught.value.subcode == "DestinationUnreachable"
    assert caught.value.reason.startswith("No route can be determined")
    already = parse_fault(fixture("SOAPFault_AlreadyExists.xml"))
    assert already is not None and already.subcode == "AlreadyExists"
    assert parse_fault(b"<html>Bad Request</html>") is None


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>',
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
    ],
)
def test_entities_and_dtds_are_refused(document: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse_soap(document)
    with pytest.raises(UnsafeXml):
        parse_fault(document)


def test_wrong_documents_are_parse_errors() -> None:
    with pytest.raises(WsmanParseError):
        parse_soap(b"<not-closed")
    with pytest.raises(WsmanParseError):
        parse_soap(b"<Other/>")
    with pytest.raises(WsmanParseError, match="expected <AMT_GeneralSettings>"):
        answer(setup.get_general_settings(), "IPS_OptInService_Get.xml")
    with pytest.raises(WsmanParseError):
        parse_soap(b"<a>" * 100 + b"</a>" * 100)


def test_cim_object_changes() -> None:
    instance = CimObject("C", "uri", (("A", "1"), ("L", "x"), ("L", "y"), ("B", "2")))
    changed = instance.with_values({"L": ["z"], "A": None, "N": "new"})
    assert changed.properties == (("L", "z"), ("B", "2"), ("N", "new"))


def test_hostile_nesting_is_refused_when_reached() -> None:
    from activation.wsman.response import WsmanParseError, _parse_tree

    depth = 40
    document = ("<a>" * depth + "x" + "</a>" * depth).encode()
    with pytest.raises(WsmanParseError, match="nested too deeply"):
        node = _parse_tree(document)
        while True:
            node = node.children[0]
