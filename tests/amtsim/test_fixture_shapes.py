"""Every recorded response in reference/wsman-fixtures has a counterpart the device produces.

For each fixture the device is put in a state where the same request makes sense, the
request is sent through the full pipeline (digest auth included), and the answer's Body is
compared by shape: every element path of the fixture (local names, selector names) must be
there, in the same namespace; values may differ. The Action must be the real-firmware form
(``…Response``) even where the fixture's was hand-edited (INDEX.md note 1).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from xml.etree.ElementTree import Element

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from defusedxml.ElementTree import fromstring

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice
from amtsim.device.device import DeviceAnswer, HttpRequest
from amtsim.device.state import CimInstance
from amtsim.digest import DigestClient, admin_digest_password
from amtsim.pkcs10 import null_signed_request, rsa_public_key_from_pkcs1
from amtsim.pki import make_provisioning_chain
from tests.amtsim.rps_double import (
    b64,
    delete,
    enumerate_,
    envelope,
    epr,
    get,
    method,
    params,
    pull,
    put,
    resource_uri,
)
from tests.shared_reference import wsman_fixture, wsman_fixture_names

PASSWORD = "Adm1n!Passw0rd"
_CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class InProcessRps:
    """Sends requests through ``VirtualAmtDevice.answer`` with a real digest exchange."""

    def __init__(self, device: VirtualAmtDevice, username: str = "admin", password: str = PASSWORD):
        self.device = device
        self.digest = DigestClient(username, password)

    def call(self, xml: str) -> DeviceAnswer:
        answer = DeviceAnswer()
        for _attempt in range(3):
            headers = {}
            authorization = self.digest.authorization()
            if authorization:
                headers["authorization"] = authorization
            answer = self.device.answer(HttpRequest("POST", "/wsman", headers, xml.encode()))
            if answer.status != 401:
                return answer
            self.digest.challenge = answer.challenge
        return answer

    def value(self, xml: str, name: str) -> str:
        root = fromstring(self.call(xml).body)
        return next(node.text or "" for node in root.iter() if node.tag.rsplit("}", 1)[-1] == name)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def body_shape(document: bytes) -> dict[tuple[str, ...], set[str]]:
    root = fromstring(document)
    body = next(child for child in root if _local(child.tag) == "Body")
    shape: dict[tuple[str, ...], set[str]] = {}

    def walk(element: Element, path: tuple[str, ...]) -> None:
        for child in element:
            name = _local(child.tag)
            if name == "Selector":
                name += f"[{child.get('Name', '').strip()}]"
            child_path = (*path, name)
            shape.setdefault(child_path, set()).add(_namespace(child.tag))
            walk(child, child_path)

    walk(body, ())
    return shape


def action_of(document: bytes) -> str:
    root = fromstring(document)
    return next((node.text or "").strip() for node in root.iter() if _local(node.tag) == "Action")


def _certificate(public_key: rsa.RSAPublicKey, common_name: str, *, ca: bool) -> bytes:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer = name if ca else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(_CA_KEY, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _root_blob() -> str:
    return b64(_certificate(_CA_KEY.public_key(), "test CA", ca=True))


# -- preparations: each returns the request to send ----------------------------------------


def _with_key_pair(rps: InProcessRps) -> str:
    rps.call(method("AMT_PublicKeyManagementService", "GenerateKeyPair", params(KeyAlgorithm="0", KeyLength="2048")))
    return rps.device.state.key_pairs[-1].instance_id


def _with_server_certificate(rps: InProcessRps) -> str:
    _with_key_pair(rps)
    key_pair = rps.device.state.key_pairs[-1]
    private_key = serialization.load_pem_private_key(key_pair.private_pem, None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    blob = b64(_certificate(private_key.public_key(), "AMT-device", ca=False))
    rps.call(method("AMT_PublicKeyManagementService", "AddCertificate", params(CertificateBlob=blob)))
    return rps.device.state.certificates[-1].instance_id


def _with_trusted_root(rps: InProcessRps) -> str:
    rps.call(
        method("AMT_PublicKeyManagementService", "AddTrustedRootCertificate", params(CertificateBlob=_root_blob()))
    )
    return rps.device.state.certificates[-1].instance_id


def _with_mps(rps: InProcessRps) -> None:
    rps.call(
        method(
            "AMT_RemoteAccessService",
            "AddMpServer",
            params(
                AccessInfo="192.168.10.196",
                InfoFormat="3",
                Port="4433",
                AuthMethod="2",
                Username="mpsuser",
                Password="Mps!Passw0rd",
                CN="192.168.10.196",
            ),
        )
    )


def _mps_reference() -> str:
    return epr(
        "AMT_ManagementPresenceRemoteSAP",
        {
            "CreationClassName": "AMT_ManagementPresenceRemoteSAP",
            "Name": "Intel(r) AMT:Management Presence Server 0",
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "Intel(r) AMT",
        },
    )


def _with_policy(rps: InProcessRps) -> None:
    _with_mps(rps)
    rps.call(
        method(
            "AMT_RemoteAccessService",
            "AddRemoteAccessPolicyRule",
            params(Trigger="2", TunnelLifeTime="0", ExtendedData="AAAAAAAAABk=", MpServer=_mps_reference()),
        )
    )


def _instance_xml(instance: CimInstance) -> str:
    return "".join(
        f"<h:{name}>{value}</h:{name}>"
        for name, values in instance.properties.items()
        for value in values
        if isinstance(value, str)
    )


def _with_wifi(rps: InProcessRps) -> str:
    settings = (
        '<h:WiFiEndpointSettingsInput xmlns:q="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_WiFiEndpointSettings">'
        "<q:ElementName>home</q:ElementName><q:InstanceID>Intel(r) AMT:WiFi Endpoint Settings home</q:InstanceID>"
        "<q:AuthenticationMethod>6</q:AuthenticationMethod><q:EncryptionMethod>4</q:EncryptionMethod>"
        "<q:SSID>homessid</q:SSID><q:Priority>1</q:Priority><q:PSKPassPhrase>Passphrase1</q:PSKPassPhrase>"
        "</h:WiFiEndpointSettingsInput>"
    )
    endpoint = "<h:WiFiEndpoint>" + epr("CIM_WiFiEndpoint", {"Name": "WiFi Endpoint 0"}) + "</h:WiFiEndpoint>"
    return method("AMT_WiFiPortConfigurationService", "AddWiFiSettings", endpoint + settings)


def _applies_to_mps_put() -> str:
    def reference(class_name: str, selectors: dict[str, str]) -> str:
        return f"<a:EndpointReference>{epr(class_name, selectors)}</a:EndpointReference>"

    common = {"SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "Intel(r) AMT"}
    managed = reference(
        "AMT_ManagementPresenceRemoteSAP",
        {
            "CreationClassName": "AMT_ManagementPresenceRemoteSAP",
            "Name": "Intel(r) AMT:Management Presence Server 0",
            **common,
        },
    )
    policy = reference(
        "AMT_RemoteAccessPolicyRule",
        {"CreationClassName": "AMT_RemoteAccessPolicyRule", "PolicyRuleName": "Periodic", **common},
    )
    selectors = (
        f'<w:SelectorSet><w:Selector Name="ManagedElement">{managed}</w:Selector>'
        f'<w:Selector Name="PolicySet">{policy}</w:Selector></w:SelectorSet>'
    )
    uri = resource_uri("AMT_RemoteAccessPolicyAppliesToMPS")
    body = (
        f'<h:AMT_RemoteAccessPolicyAppliesToMPS xmlns:h="{uri}"><h:ManagedElement>{managed}</h:ManagedElement>'
        f"<h:MpsType>2</h:MpsType><h:OrderOfAccess>0</h:OrderOfAccess><h:PolicySet>{policy}</h:PolicySet>"
        "</h:AMT_RemoteAccessPolicyAppliesToMPS>"
    )
    return envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put", uri, body, selectors=selectors)


def _tls_context_body(instance_id: str) -> str:
    return (
        "<h:ElementInContext>"
        + epr("AMT_PublicKeyCertificate", {"InstanceID": instance_id})
        + "</h:ElementInContext><h:ElementProvidingContext>"
        + epr("AMT_TLSProtocolEndpointCollection", {"ElementName": "TLSProtocolEndpoint Instances Collection"})
        + "</h:ElementProvidingContext>"
    )


def _enumeration_context(rps: InProcessRps, class_name: str) -> str:
    return rps.value(enumerate_(class_name), "EnumerationContext")


Preparation = Callable[[InProcessRps], str]


def _acm_device() -> tuple[VirtualAmtDevice, InProcessRps]:
    device = VirtualAmtDevice.activated(DeviceIdentity(), mode=ControlMode.ACM, admin_password=PASSWORD)
    return device, InProcessRps(device)


CASES: dict[str, Preparation] = {
    "AMT_AuthorizationService_SetAdminAclEntryEx.xml": lambda rps: method(
        "AMT_AuthorizationService",
        "SetAdminAclEntryEx",
        params(Username="admin", DigestPassword=admin_digest_password(realm=rps.device.state.realm, password=PASSWORD)),
    ),
    "AMT_BootCapabilities_Get.xml": lambda rps: get("AMT_BootCapabilities"),
    "AMT_EnvironmentDetectionSettingData_Get.xml": lambda rps: (
        rps.device.state.environment_detection.set("DetectionStrings", ["a.com", "b.com"]),
        get("AMT_EnvironmentDetectionSettingData"),
    )[1],
    "AMT_EnvironmentDetectionSettingData_Put.xml": lambda rps: put(
        "AMT_EnvironmentDetectionSettingData",
        params(
            DetectionAlgorithm="0",
            DetectionStrings="2b14eacc.com",
            ElementName="Intel(r) AMT Environment Detection Settings",
            InstanceID="Intel(r) AMT Environment Detection Settings",
        ),
        {"InstanceID": "Intel(r) AMT Environment Detection Settings"},
    ),
    "AMT_EthernetPortSettings_Enumerate.xml": lambda rps: enumerate_("AMT_EthernetPortSettings"),
    "AMT_EthernetPortSettings_Get.xml": lambda rps: get(
        "AMT_EthernetPortSettings", {"InstanceID": "Intel(r) AMT Ethernet Port Settings 0"}
    ),
    "AMT_EthernetPortSettings_Pull.xml": lambda rps: pull(
        "AMT_EthernetPortSettings", _enumeration_context(rps, "AMT_EthernetPortSettings")
    ),
    "AMT_EthernetPortSettings_Put.xml": lambda rps: put(
        "AMT_EthernetPortSettings",
        _instance_xml(rps.device.state.wired_port).replace(
            "<h:SharedStaticIp>false</h:SharedStaticIp>", "<h:SharedStaticIp>true</h:SharedStaticIp>"
        ),
        {"InstanceID": "Intel(r) AMT Ethernet Port Settings 0"},
    ),
    "AMT_GeneralSettings_Get.xml": lambda rps: get("AMT_GeneralSettings"),
    "AMT_GeneralSettings_Get_AMT15_rps.xml": lambda rps: get("AMT_GeneralSettings"),
    "AMT_ManagementPresenceRemoteSAP_Delete.xml": lambda rps: (
        _with_mps(rps),
        delete("AMT_ManagementPresenceRemoteSAP", {"Name": "Intel(r) AMT:Management Presence Server 0"}),
    )[1],
    "AMT_ManagementPresenceRemoteSAP_Enumerate.xml": lambda rps: enumerate_("AMT_ManagementPresenceRemoteSAP"),
    "AMT_ManagementPresenceRemoteSAP_Pull.xml": lambda rps: (
        _with_mps(rps),
        pull("AMT_ManagementPresenceRemoteSAP", _enumeration_context(rps, "AMT_ManagementPresenceRemoteSAP")),
    )[1],
    "AMT_PublicKeyCertificate_Delete.xml": lambda rps: delete(
        "AMT_PublicKeyCertificate", {"InstanceID": _with_trusted_root(rps)}
    ),
    "AMT_PublicKeyCertificate_Pull.xml": lambda rps: (
        _with_trusted_root(rps),
        _with_server_certificate(rps),
        pull("AMT_PublicKeyCertificate", _enumeration_context(rps, "AMT_PublicKeyCertificate")),
    )[2],
    "AMT_PublicKeyManagementService_AddCertificate.xml": lambda rps: (
        _with_key_pair(rps),
        method(
            "AMT_PublicKeyManagementService",
            "AddCertificate",
            params(
                CertificateBlob=b64(
                    _certificate(
                        serialization.load_pem_private_key(
                            rps.device.state.key_pairs[-1].private_pem, None
                        ).public_key(),  # type: ignore[arg-type]
                        "AMT-device",
                        ca=False,
                    )
                )
            ),
        ),
    )[1],
    "AMT_PublicKeyManagementService_AddTrustedRootCertificate.xml": lambda rps: method(
        "AMT_PublicKeyManagementService", "AddTrustedRootCertificate", params(CertificateBlob=_root_blob())
    ),
    "AMT_PublicKeyManagementService_GenerateKeyPair.xml": lambda rps: method(
        "AMT_PublicKeyManagementService", "GenerateKeyPair", params(KeyAlgorithm="0", KeyLength="2048")
    ),
    "AMT_PublicKeyManagementService_GeneratePKCS10RequestEx.xml": lambda rps: method(
        "AMT_PublicKeyManagementService",
        "GeneratePKCS10RequestEx",
        "<h:KeyPair>"
        + epr("AMT_PublicPrivateKeyPair", {"InstanceID": _with_key_pair(rps)})
        + "</h:KeyPair><h:SigningAlgorithm>1</h:SigningAlgorithm><h:NullSignedCertificateRequest>"
        + b64(
            null_signed_request(
                rsa_public_key_from_pkcs1(rps.device.state.key_pairs[-1].public_der),
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")]),
            )
        )
        + "</h:NullSignedCertificateRequest>",
    ),
    "AMT_PublicPrivateKeyPair_Delete.xml": lambda rps: delete(
        "AMT_PublicPrivateKeyPair", {"InstanceID": _with_key_pair(rps)}
    ),
    "AMT_PublicPrivateKeyPair_Pull.xml": lambda rps: (
        _with_key_pair(rps),
        pull("AMT_PublicPrivateKeyPair", _enumeration_context(rps, "AMT_PublicPrivateKeyPair")),
    )[1],
    "AMT_RedirectionService_Get.xml": lambda rps: get("AMT_RedirectionService"),
    "AMT_RedirectionService_Put.xml": lambda rps: put(
        "AMT_RedirectionService",
        params(
            CreationClassName="AMT_RedirectionService",
            ElementName="Intel(r) AMT Redirection Service",
            EnabledState="32771",
            ListenerEnabled="true",
            Name="Intel(r) AMT Redirection Service",
            SystemCreationClassName="CIM_ComputerSystem",
            SystemName="Intel(r) AMT",
        ),
    ),
    "AMT_RedirectionService_RequestStateChange.xml": lambda rps: method(
        "AMT_RedirectionService", "RequestStateChange", params(RequestedState="32771")
    ),
    "AMT_RemoteAccessPolicyAppliesToMPS_Pull.xml": lambda rps: (
        _with_policy(rps),
        pull("AMT_RemoteAccessPolicyAppliesToMPS", _enumeration_context(rps, "AMT_RemoteAccessPolicyAppliesToMPS")),
    )[1],
    "AMT_RemoteAccessPolicyAppliesToMPS_Put.xml": lambda rps: (_with_policy(rps), _applies_to_mps_put())[1],
    "AMT_RemoteAccessPolicyRule_Delete.xml": lambda rps: (
        _with_policy(rps),
        delete("AMT_RemoteAccessPolicyRule", {"PolicyRuleName": "Periodic"}),
    )[1],
    "AMT_RemoteAccessService_AddMpServer.xml": lambda rps: method(
        "AMT_RemoteAccessService",
        "AddMpServer",
        params(
            AccessInfo="mps.example",
            InfoFormat="201",
            Port="4433",
            AuthMethod="2",
            Username="u",
            Password="Mps!Passw0rd1",
        ),
    ),
    "AMT_RemoteAccessService_AddRemoteAccessPolicyRule.xml": lambda rps: (
        _with_mps(rps),
        method(
            "AMT_RemoteAccessService",
            "AddRemoteAccessPolicyRule",
            params(Trigger="2", TunnelLifeTime="0", ExtendedData="AAAAAAAAABk=", MpServer=_mps_reference()),
        ),
    )[1],
    "AMT_SetupAndConfigurationService_CommitChanges.xml": lambda rps: method(
        "AMT_SetupAndConfigurationService", "CommitChanges"
    ),
    "AMT_SetupAndConfigurationService_Get.xml": lambda rps: get("AMT_SetupAndConfigurationService"),
    "AMT_SetupAndConfigurationService_SetMEBxPassword.xml": lambda rps: method(
        "AMT_SetupAndConfigurationService", "SetMEBxPassword", params(Password="Mebx!Passw0rd")
    ),
    "AMT_SetupAndConfigurationService_Unprovision.xml": lambda rps: method(
        "AMT_SetupAndConfigurationService", "Unprovision", params(ProvisioningMode="1")
    ),
    "AMT_TLSCredentialContext_Create.xml": lambda rps: put(
        "AMT_TLSCredentialContext", _tls_context_body(_with_server_certificate(rps)), create=True
    ),
    "AMT_TLSCredentialContext_Pull.xml": lambda rps: (
        rps.call(put("AMT_TLSCredentialContext", _tls_context_body(_with_server_certificate(rps)), create=True)),
        pull("AMT_TLSCredentialContext", _enumeration_context(rps, "AMT_TLSCredentialContext")),
    )[1],
    "AMT_TLSCredentialContext_Put.xml": lambda rps: put(
        "AMT_TLSCredentialContext", _tls_context_body(_with_server_certificate(rps))
    ),
    "AMT_TLSSettingData_Enumerate.xml": lambda rps: enumerate_("AMT_TLSSettingData"),
    "AMT_TLSSettingData_Pull.xml": lambda rps: pull(
        "AMT_TLSSettingData", _enumeration_context(rps, "AMT_TLSSettingData")
    ),
    "AMT_TLSSettingData_Put.xml": lambda rps: put(
        "AMT_TLSSettingData",
        params(
            AcceptNonSecureConnections="true",
            ElementName="Intel(r) AMT 802.3 TLS Settings",
            Enabled="false",
            InstanceID="Intel(r) AMT 802.3 TLS Settings",
            MutualAuthentication="false",
        ),
        {"InstanceID": "Intel(r) AMT 802.3 TLS Settings"},
    ),
    "AMT_TimeSynchronizationService_Get.xml": lambda rps: get("AMT_TimeSynchronizationService"),
    "AMT_TimeSynchronizationService_GetLowAccuracyTimeSynch.xml": lambda rps: method(
        "AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch"
    ),
    "AMT_TimeSynchronizationService_SetHighAccuracyTimeSynch.xml": lambda rps: method(
        "AMT_TimeSynchronizationService",
        "SetHighAccuracyTimeSynch",
        params(
            Ta0=rps.value(method("AMT_TimeSynchronizationService", "GetLowAccuracyTimeSynch"), "Ta0"),
            Tm1="1704586866",
            Tm2="1704586866",
        ),
    ),
    "AMT_UserInitiatedConnectionService_RequestStateChange.xml": lambda rps: method(
        "AMT_UserInitiatedConnectionService", "RequestStateChange", params(RequestedState="32771")
    ),
    "AMT_WiFiPortConfigurationService_AddWiFiSettings.xml": _with_wifi,
    "AMT_WiFiPortConfigurationService_Get.xml": lambda rps: get("AMT_WiFiPortConfigurationService"),
    "AMT_WiFiPortConfigurationService_Put.xml": lambda rps: put(
        "AMT_WiFiPortConfigurationService",
        _instance_xml(rps.device.state.wifi_port_configuration).replace(
            "<h:localProfileSynchronizationEnabled>0<", "<h:localProfileSynchronizationEnabled>1<"
        ),
    ),
    "CIM_KVMRedirectionSAP_Get.xml": lambda rps: get("CIM_KVMRedirectionSAP"),
    "CIM_SoftwareIdentity_Enumerate.xml": lambda rps: enumerate_("CIM_SoftwareIdentity"),
    "CIM_SoftwareIdentity_Pull.xml": lambda rps: pull(
        "CIM_SoftwareIdentity", _enumeration_context(rps, "CIM_SoftwareIdentity")
    ),
    "CIM_WiFiEndpointSettings_Pull.xml": lambda rps: (
        rps.call(_with_wifi(rps)),
        pull("CIM_WiFiEndpointSettings", _enumeration_context(rps, "CIM_WiFiEndpointSettings")),
    )[1],
    "CIM_WiFiPort_RequestStateChange.xml": lambda rps: method(
        "CIM_WiFiPort", "RequestStateChange", params(RequestedState="32769")
    ),
    "IPS_HTTPProxyService_AddProxyAccessPoint.xml": lambda rps: method(
        "IPS_HTTPProxyService",
        "AddProxyAccessPoint",
        params(AccessInfo="proxy.example", InfoFormat="201", Port="8080", NetworkDnsSuffix="example"),
    ),
    "IPS_HostBasedSetupService_Get.xml": lambda rps: get("IPS_HostBasedSetupService"),
    "IPS_IEEE8021xSettings_Get.xml": lambda rps: get("IPS_IEEE8021xSettings"),
    "IPS_IEEE8021xSettings_SetCertificates.xml": lambda rps: method(
        "IPS_IEEE8021xSettings",
        "SetCertificates",
        "<h:ServerCertificateIssuer>"
        + epr("AMT_PublicKeyCertificate", {"InstanceID": _with_trusted_root(rps)})
        + "</h:ServerCertificateIssuer><h:ClientCertificate>"
        + epr("AMT_PublicKeyCertificate", {"InstanceID": _with_server_certificate(rps)})
        + "</h:ClientCertificate>",
    ),
    "IPS_OptInService_Get.xml": lambda rps: get("IPS_OptInService"),
    "SOAPFault_AlreadyExists.xml": lambda rps: (
        rps.call(put("AMT_TLSCredentialContext", _tls_context_body(_with_server_certificate(rps)), create=True)),
        put("AMT_TLSCredentialContext", _tls_context_body(rps.device.state.certificates[-1].instance_id), create=True),
    )[1],
    "SOAPFault_DestinationUnreachable.xml": lambda rps: get("AMT_NoSuchClass"),
}


def _setup_cases() -> dict[str, Callable[[], tuple[VirtualAmtDevice, InProcessRps, str]]]:
    """Host-based setup answers need a device that is not activated yet (or in CCM)."""
    chain = make_provisioning_chain("vprodemo.com", intermediate=False)

    def fresh() -> tuple[VirtualAmtDevice, InProcessRps]:
        device = VirtualAmtDevice(DeviceIdentity(dns_suffix="vprodemo.com", trusted_root_hashes=[chain.root_sha256]))
        return device, InProcessRps(device, "$$OsAdmin", device.identity.local_system_password)

    def add_leaf(rps: InProcessRps, *, leaf: bool, root: bool, der: bytes) -> str:
        return method(
            "IPS_HostBasedSetupService",
            "AddNextCertInChain",
            params(NextCertificate=b64(der), IsLeafCertificate=str(leaf).lower(), IsRootCertificate=str(root).lower()),
        )

    def signed(rps: InProcessRps, name: str, extra: dict[str, str]) -> str:
        nonce = base64.b64decode(rps.value(get("IPS_HostBasedSetupService"), "ConfigurationNonce"))
        leaf_der, root_der = chain.ders()
        rps.call(add_leaf(rps, leaf=True, root=False, der=leaf_der))
        rps.call(add_leaf(rps, leaf=False, root=True, der=root_der))
        mc_nonce = secrets.token_bytes(20)
        signature = b64(chain.sign_nonces(nonce, mc_nonce))
        return method(
            "IPS_HostBasedSetupService",
            name,
            params(**extra, McNonce=b64(mc_nonce), SigningAlgorithm="2", DigitalSignature=signature),
        )

    def setup_case() -> tuple[VirtualAmtDevice, InProcessRps, str]:
        device, rps = fresh()
        request = method(
            "IPS_HostBasedSetupService", "Setup", params(NetAdminPassEncryptionType="2", NetworkAdminPassword="0" * 32)
        )
        return device, rps, request

    def add_cert_case() -> tuple[VirtualAmtDevice, InProcessRps, str]:
        device, rps = fresh()
        return device, rps, add_leaf(rps, leaf=True, root=False, der=chain.ders()[0])

    def admin_setup_case() -> tuple[VirtualAmtDevice, InProcessRps, str]:
        device, rps = fresh()
        return (
            device,
            rps,
            signed(rps, "AdminSetup", {"NetAdminPassEncryptionType": "2", "NetworkAdminPassword": "1" * 32}),
        )

    def upgrade_case() -> tuple[VirtualAmtDevice, InProcessRps, str]:
        device = VirtualAmtDevice.activated(
            DeviceIdentity(dns_suffix="vprodemo.com", trusted_root_hashes=[chain.root_sha256]), admin_password=PASSWORD
        )
        rps = InProcessRps(device)
        return device, rps, signed(rps, "UpgradeClientToAdmin", {})

    return {
        "IPS_HostBasedSetupService_Setup.xml": setup_case,
        "IPS_HostBasedSetupService_AddNextCertInChain.xml": add_cert_case,
        "IPS_HostBasedSetupService_AdminSetup.xml": admin_setup_case,
        "IPS_HostBasedSetupService_UpgradeClientToAdmin.xml": upgrade_case,
    }


SETUP_CASES = _setup_cases()
# Hand-made fixture (INDEX.md): real AMT answers this Delete with an empty Body.
EMPTY_BODY_INSTEAD = {"CIM_WiFiEndpointSettings_Delete.xml"}


def test_every_fixture_has_a_case() -> None:
    recorded = wsman_fixture_names()
    assert recorded == set(CASES) | set(SETUP_CASES) | EMPTY_BODY_INSTEAD


def _assert_same_shape(fixture_name: str, answer: DeviceAnswer) -> None:
    recorded = wsman_fixture(fixture_name)
    expected_status = 400 if fixture_name.startswith("SOAPFault") else 200
    assert answer.status == expected_status, answer.body
    produced = answer.body
    recorded_shape, produced_shape = body_shape(recorded), body_shape(produced)
    missing = {path for path in recorded_shape if path not in produced_shape}
    assert not missing, f"{fixture_name}: device answer lacks {sorted(missing)}"
    for path, namespaces in recorded_shape.items():
        assert produced_shape[path] == namespaces, (
            f"{fixture_name}: {path} namespace {produced_shape[path]} != {namespaces}"
        )
    top_level = {path for path in produced_shape if len(path) == 1}
    assert top_level == {path for path in recorded_shape if len(path) == 1}
    recorded_action = action_of(recorded)
    if not recorded_action.endswith(("Response", "fault")):
        recorded_action += "Response"  # hand-edited fixtures drop the suffix firmware sends
    assert action_of(produced) == recorded_action
    if expected_status == 200 and "ReturnValue" in {path[-1] for path in recorded_shape}:
        values = [node.text for node in fromstring(produced).iter() if _local(node.tag) == "ReturnValue"]
        assert values == ["0"], f"{fixture_name}: ReturnValue {values}"


@pytest.mark.parametrize("fixture_name", sorted(CASES))
def test_answer_has_the_recorded_shape(fixture_name: str) -> None:
    device, rps = _acm_device()
    request = CASES[fixture_name](rps)
    _assert_same_shape(fixture_name, rps.call(request))


@pytest.mark.parametrize("fixture_name", sorted(SETUP_CASES))
def test_setup_answer_has_the_recorded_shape(fixture_name: str) -> None:
    _device, rps, request = SETUP_CASES[fixture_name]()
    _assert_same_shape(fixture_name, rps.call(request))


def test_wifi_endpoint_delete_answers_with_an_empty_body() -> None:
    device, rps = _acm_device()
    rps.call(_with_wifi(rps))
    answer = rps.call(delete("CIM_WiFiEndpointSettings", {"InstanceID": "Intel(r) AMT:WiFi Endpoint Settings home"}))
    assert answer.status == 200
    assert body_shape(answer.body) == {}
    assert device.state.wifi_endpoint_settings == []
