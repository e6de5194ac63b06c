"""Firmware state of one virtual AMT device: identity, control mode, accounts, configuration.

Configuration objects that RPS reads and writes back whole (general settings, ports, TLS
settings, ...) are kept as ``CimInstance`` property bags, because a server echoes them in
its Puts and the device has to hand back what it was given. The security-relevant parts
(control mode, accounts, nonces, certificate chain) are typed fields.
"""

from __future__ import annotations

import copy
import secrets
import uuid as uuid_module
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from amtsim.device.factory_roots import FACTORY_ROOT_HASHES
from amtsim.device.wsman import EndpointReference, Properties, PropertyValue, resource_uri_for
from amtsim.digest import digest_ha1
from amtsim.pki import DeviceTlsIdentity, make_temporary_tls_identity

LOCAL_SYSTEM_ACCOUNT = "$$OsAdmin"
ADMIN_USERNAME = "admin"


class ControlMode(IntEnum):
    PRE_PROVISIONING = 0
    CCM = 1
    ACM = 2


@dataclass
class DeviceIdentity:
    """What rpc-go reads over HECI, plus the realm and MAC the firmware was built with."""

    uuid: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    amt_version: str = "16.1.25"
    build: str = "2176"
    sku: str = "16392"
    features: str = "AMT Pro Corporate"
    hostname: str = "amtsim-device"
    dns_suffix: str = "vprodemo.com"
    # What AMT reports over HECI (rpc-go's certHashes): the factory list unless a test gives its own.
    trusted_root_hashes: list[str] = field(default_factory=lambda: list(FACTORY_ROOT_HASHES))
    digest_realm: str = field(default_factory=lambda: "Digest:" + secrets.token_hex(16).upper())
    local_system_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    wired_mac: str = field(default_factory=lambda: "00-" + "-".join(secrets.token_hex(1) for _ in range(5)))
    wireless: bool = True
    tls_enforced: bool | None = None  # None: decided by the AMT major version (19+ enforces TLS)

    @property
    def amt_major(self) -> int:
        return int(self.amt_version.split(".")[0])

    @property
    def enforces_tls(self) -> bool:
        return self.tls_enforced if self.tls_enforced is not None else self.amt_major >= 19


class CimInstance:
    """One CIM object as an ordered property bag; values of repeated properties are lists."""

    def __init__(self, class_name: str, properties: dict[str, PropertyValue | list[PropertyValue]]):
        self.class_name = class_name
        self.properties: Properties = {
            name: list(value) if isinstance(value, list) else [value] for name, value in properties.items()
        }

    def get(self, name: str) -> str | None:
        values = self.properties.get(name)
        if not values or not isinstance(values[0], str):
            return None
        return values[0]

    def values(self, name: str) -> list[PropertyValue]:
        return list(self.properties.get(name, []))

    def set(self, name: str, value: PropertyValue | list[PropertyValue]) -> None:
        self.properties[name] = list(value) if isinstance(value, list) else [value]

    def remove(self, name: str) -> None:
        self.properties.pop(name, None)

    def flag(self, name: str) -> bool:
        return (self.get(name) or "").lower() == "true"

    def sorted_properties(self) -> Properties:
        # Firmware lists properties alphabetically (case-insensitive), as every fixture shows.
        return {name: self.properties[name] for name in sorted(self.properties, key=str.lower)}

    def replace_writable(self, new_properties: Properties, read_only: frozenset[str]) -> None:
        """A Put: take the written properties, keep what the firmware owns."""
        kept = {name: values for name, values in self.properties.items() if name in read_only}
        self.properties = {**{k: v for k, v in new_properties.items() if k not in read_only}, **kept}

    def copy(self) -> CimInstance:
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"CimInstance({self.class_name!r}, {self.properties!r})"


def _service(class_name: str, element_name: str, **extra: PropertyValue | list[PropertyValue]) -> CimInstance:
    return CimInstance(
        class_name,
        {
            "CreationClassName": class_name,
            "ElementName": element_name,
            "Name": element_name,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "Intel(r) AMT",
            **extra,
        },
    )


@dataclass
class StoredCertificate:
    handle: int
    der: bytes
    trusted_root: bool
    subject: str
    issuer: str

    @property
    def instance_id(self) -> str:
        return f"Intel(r) AMT Certificate: Handle: {self.handle}"

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)


@dataclass
class StoredKeyPair:
    handle: int
    public_der: bytes  # PKCS#1 RSAPublicKey, as AMT's DERKey
    private_pem: bytes

    @property
    def instance_id(self) -> str:
        return f"Intel(r) AMT Key: Handle: {self.handle}"


@dataclass
class TimeSync:
    ta0: int | None = None
    tm1: int | None = None
    tm2: int | None = None


@dataclass
class FirmwareState:
    """Everything the firmware remembers. Tests read it to assert what a server configured."""

    identity: DeviceIdentity
    control_mode: ControlMode = ControlMode.PRE_PROVISIONING
    admin_password_ha1: str | None = field(default=None, repr=False)  # md5("admin:<realm>:<pw>"), all AMT learns
    mebx_password: str | None = field(default=None, repr=False)
    configuration_nonce: bytes | None = None
    used_client_nonces: set[bytes] = field(default_factory=set)
    ieee8021x_certificates: dict[str, str] = field(default_factory=dict)
    pending_chain: list[bytes] = field(default_factory=list)  # DER, leaf first
    chain_complete: bool = False
    activated_by_chain: list[bytes] = field(default_factory=list)  # the chain ACM was granted with
    setup_errors: list[str] = field(default_factory=list)  # why setup calls were refused, newest last
    general_settings: CimInstance = field(init=False)
    ethernet_ports: list[CimInstance] = field(init=False)
    ieee8021x: CimInstance = field(init=False)
    wifi_endpoint_settings: list[CimInstance] = field(default_factory=list)
    # The 802.1X settings of each 802.1X Wi-Fi profile, by the profile's InstanceID.
    wifi_ieee8021x_settings: dict[str, CimInstance] = field(default_factory=dict, repr=False)
    # Each 802.1X Wi-Fi profile's certificate references ("ClientCredential", "CACredential"
    # → AMT_PublicKeyCertificate InstanceID), by the profile's InstanceID.
    wifi_ieee8021x_credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    wifi_port_configuration: CimInstance = field(init=False)
    wifi_port_requested_state: int | None = None
    boot_capabilities: CimInstance = field(init=False)
    proxy_access_points: list[CimInstance] = field(default_factory=list)
    tls_settings: list[CimInstance] = field(init=False)
    tls_credential_context: CimInstance | None = None
    certificates: list[StoredCertificate] = field(default_factory=list)
    key_pairs: list[StoredKeyPair] = field(default_factory=list)
    signed_requests: list[bytes] = field(default_factory=list)  # DER PKCS#10s GeneratePKCS10RequestEx made
    next_handle: int = 0
    mps_servers: list[CimInstance] = field(default_factory=list)
    remote_access_policy_rules: list[CimInstance] = field(default_factory=list)
    policy_applies_to_mps: list[CimInstance] = field(default_factory=list)
    user_initiated_connection_state: int = 32768
    environment_detection: CimInstance = field(init=False)
    redirection: CimInstance = field(init=False)
    kvm: CimInstance = field(init=False)
    opt_in: CimInstance = field(init=False)
    time_sync: TimeSync = field(default_factory=TimeSync)
    commits: int = 0
    tls_committed: bool = False
    # AMT 19+: the self-signed leaf generated at activation, served until TLS is committed (§5.4).
    temporary_tls_identity: DeviceTlsIdentity | None = field(default=None, repr=False)
    unprovision_count: int = 0

    def __post_init__(self) -> None:
        self.reset_configuration()

    # -- accounts ---------------------------------------------------------------------------

    @property
    def realm(self) -> str:
        return self.identity.digest_realm

    @property
    def is_provisioned(self) -> bool:
        return self.control_mode is not ControlMode.PRE_PROVISIONING

    def digest_accounts(self) -> dict[str, str]:
        """Username → HA1 of the accounts that may log on right now."""
        if not self.is_provisioned:
            # The one-time local system account is valid only before activation.
            return {
                LOCAL_SYSTEM_ACCOUNT: digest_ha1(
                    username=LOCAL_SYSTEM_ACCOUNT, realm=self.realm, password=self.identity.local_system_password
                )
            }
        return {ADMIN_USERNAME: self.admin_password_ha1} if self.admin_password_ha1 else {}

    def admin_password_matches(self, password: str) -> bool:
        """Whether ``password`` is the admin password the device now holds."""
        expected = digest_ha1(username=ADMIN_USERNAME, realm=self.realm, password=password)
        return self.admin_password_ha1 == expected

    def activated_tls_identity(self) -> DeviceTlsIdentity:
        """The temporary self-signed leaf, generated on first use after activation."""
        if self.temporary_tls_identity is None:
            self.temporary_tls_identity = make_temporary_tls_identity(self.identity.uuid)
        return self.temporary_tls_identity

    # -- handles ----------------------------------------------------------------------------

    def allocate_handle(self) -> int:
        handle = self.next_handle
        self.next_handle += 1
        return handle

    # -- certificates and keys ------------------------------------------------------------

    def certificate(self, instance_id: str) -> StoredCertificate | None:
        return next((stored for stored in self.certificates if stored.instance_id == instance_id), None)

    def key_pair_for(self, certificate: x509.Certificate) -> StoredKeyPair | None:
        """The key pair this device generated that `certificate` is for, if any."""
        public_key = certificate.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return None
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        return next((pair for pair in self.key_pairs if pair.public_der == der), None)

    # -- convenience views for tests ------------------------------------------------------

    @property
    def wired_port(self) -> CimInstance:
        return self.ethernet_ports[0]

    @property
    def wireless_port(self) -> CimInstance | None:
        return self.ethernet_ports[1] if len(self.ethernet_ports) > 1 else None

    @property
    def kvm_enabled(self) -> bool:
        return self.kvm.get("EnabledState") in ("2", "6")

    @property
    def sol_enabled(self) -> bool:
        return self.redirection.get("EnabledState") in ("32770", "32771")

    @property
    def ider_enabled(self) -> bool:
        return self.redirection.get("EnabledState") in ("32769", "32771")

    @property
    def user_consent_required(self) -> int:
        return int(self.opt_in.get("OptInRequired") or "0")

    @property
    def tls_enabled(self) -> bool:
        return any(setting.flag("Enabled") for setting in self.tls_settings)

    @property
    def wifi_profile_names(self) -> list[str]:
        return [entry.get("ElementName") or "" for entry in self.wifi_endpoint_settings]

    # -- factory reset --------------------------------------------------------------------

    def reset_configuration(self) -> None:
        """Factory defaults for everything except identity; what Unprovision returns to."""
        identity = self.identity
        self.general_settings = CimInstance(
            "AMT_GeneralSettings",
            {
                "AMTNetworkEnabled": "1",
                "DDNSPeriodicUpdateInterval": "1440",
                "DDNSTTL": "900",
                "DDNSUpdateByDHCPServerEnabled": "true",
                "DDNSUpdateEnabled": "false",
                "DHCPSyncRequiresHostname": "1",
                "DHCPv6ConfigurationTimeout": "0",
                "DigestRealm": identity.digest_realm,
                "DomainName": "",
                "ElementName": "Intel(r) AMT: General Settings",
                "HostName": "",
                "HostOSFQDN": "",
                "IdleWakeTimeout": "1",
                "InstanceID": "Intel(r) AMT: General Settings",
                "NetworkInterfaceEnabled": "true",
                "PingResponseEnabled": "true",
                "PowerSource": "0",
                "PreferredAddressFamily": "0",
                "PresenceNotificationInterval": "0",
                "PrivacyLevel": "0",
                "RmcpPingResponseEnabled": "true",
                "SharedFQDN": "true",
                "ThunderboltDockEnabled": "0",
                "WsmanOnlyMode": "false",
            },
        )
        self.ethernet_ports = [
            CimInstance(
                "AMT_EthernetPortSettings",
                {
                    "DHCPEnabled": "true",
                    "DefaultGateway": "192.168.6.1",
                    "ElementName": "Intel(r) AMT Ethernet Port Settings",
                    "IPAddress": "192.168.6.20",
                    "InstanceID": "Intel(r) AMT Ethernet Port Settings 0",
                    "IpSyncEnabled": "true",
                    "LinkIsUp": "true",
                    "LinkPolicy": ["1", "14"],
                    "MACAddress": identity.wired_mac,
                    "PhysicalConnectionType": "0",
                    "PrimaryDNS": "192.168.6.1",
                    "SecondaryDNS": "192.168.6.2",
                    "SharedDynamicIP": "true",
                    "SharedMAC": "true",
                    "SharedStaticIp": "false",
                    "SubnetMask": "255.255.255.0",
                },
            )
        ]
        if identity.wireless:
            self.ethernet_ports.append(
                CimInstance(
                    "AMT_EthernetPortSettings",
                    {
                        "ConsoleTcpMaxRetransmissions": "5",
                        "DHCPEnabled": "true",
                        "ElementName": "Intel(r) AMT Ethernet Port Settings",
                        "InstanceID": "Intel(r) AMT Ethernet Port Settings 1",
                        "LinkControl": "2",
                        "LinkIsUp": "false",
                        "LinkPreference": "2",
                        "MACAddress": "00-00-00-00-00-00",
                        "PhysicalConnectionType": "3",
                        "SharedMAC": "true",
                        "WLANLinkProtectionLevel": "1",
                    },
                )
            )
        self.ieee8021x = CimInstance(
            "IPS_IEEE8021xSettings",
            {
                "AvailableInS0": "false",
                "ElementName": "Intel(r) AMT: 8021X Settings",
                "Enabled": "3",
                "InstanceID": "Intel(r) AMT: 8021X Settings",
                "PxeTimeout": "120",
            },
        )
        self.ieee8021x_certificates = {}
        self.wifi_endpoint_settings = []
        self.wifi_ieee8021x_settings = {}
        self.wifi_ieee8021x_credentials = {}
        self.wifi_port_configuration = _service(
            "AMT_WiFiPortConfigurationService",
            "Intel(r) AMT WiFiPort Configuration Service",
            EnabledState="5",
            HealthState="5",
            LastConnectedSsidUnderMeControl="",
            NoHostCsmeSoftwarePolicy="0",
            RequestedState="12",
            UEFIWiFiProfileShareEnabled="false",
            localProfileSynchronizationEnabled="0",
        )
        self.wifi_port_configuration.set("Name", "Intel(r) AMT WiFi Port Configuration Service")
        self.wifi_port_requested_state = None
        self.boot_capabilities = CimInstance(
            "AMT_BootCapabilities",
            {
                "BIOSPause": "false",
                "BIOSReflash": "true",
                "BIOSSecureBoot": "true",
                "BIOSSetup": "true",
                "ConfigurationDataReset": "false",
                "ElementName": "Intel(r) AMT: Boot Capabilities",
                "ForceCDorDVDBoot": "true",
                "ForceDiagnosticBoot": "false",
                "ForceHardDriveBoot": "true",
                "ForceHardDriveSafeModeBoot": "false",
                "ForcePXEBoot": "true",
                "ForcedProgressEvents": "true",
                "IDER": "true",
                "InstanceID": "Intel(r) AMT:BootCapabilities 0",
                "KeyboardLock": "true",
                "PowerButtonLock": "false",
                "ResetButtonLock": "false",
                "SOL": "true",
                "SecureErase": "false",
                "SleepButtonLock": "false",
                "UEFIWiFiCoExistenceAndProfileShare": "true" if identity.amt_major >= 16 else "false",
                "UserPasswordBypass": "true",
                "VerbosityQuiet": "false",
                "VerbosityScreenBlank": "false",
                "VerbosityVerbose": "false",
            },
        )
        self.proxy_access_points = []
        self.tls_settings = [
            CimInstance(
                "AMT_TLSSettingData",
                {
                    "AcceptNonSecureConnections": "false",
                    "ElementName": "Intel(r) AMT 802.3 TLS Settings",
                    "Enabled": "false",
                    "InstanceID": "Intel(r) AMT 802.3 TLS Settings",
                    "MutualAuthentication": "false",
                },
            ),
            CimInstance(
                "AMT_TLSSettingData",
                {
                    "AcceptNonSecureConnections": "true",
                    "ElementName": "Intel(r) AMT LMS TLS Settings",
                    "Enabled": "false",
                    "InstanceID": "Intel(r) AMT LMS TLS Settings",
                    "MutualAuthentication": "false",
                },
            ),
        ]
        if identity.enforces_tls:
            # AMT 19+: TLS is on for both listeners and cannot be turned off.
            for setting in self.tls_settings:
                setting.set("Enabled", "true")
                setting.set("AcceptNonSecureConnections", "false")
                setting.set("NonSecureConnectionsSupported", "false")
        self.tls_credential_context = None
        self.certificates = []
        self.key_pairs = []
        self.signed_requests = []
        self.mps_servers = []
        self.remote_access_policy_rules = []
        self.policy_applies_to_mps = []
        self.user_initiated_connection_state = 32768
        self.environment_detection = CimInstance(
            "AMT_EnvironmentDetectionSettingData",
            {
                "DetectionAlgorithm": "0",
                "ElementName": "Intel(r) AMT Environment Detection Settings",
                "InstanceID": "Intel(r) AMT Environment Detection Settings",
            },
        )
        self.redirection = _service(
            "AMT_RedirectionService",
            "Intel(r) AMT Redirection Service",
            EnabledState="32768",
            ListenerEnabled="false",
        )
        self.kvm = CimInstance(
            "CIM_KVMRedirectionSAP",
            {
                "CreationClassName": "CIM_KVMRedirectionSAP",
                "ElementName": "KVM Redirection Service Access Point",
                "EnabledState": "3",
                "KVMProtocol": "4",
                "Name": "KVM Redirection Service Access Point",
                "RequestedState": "3",
                "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "ManagedSystem",
            },
        )
        self.opt_in = _service(
            "IPS_OptInService",
            "Intel(r) AMT OptIn Service",
            CanModifyOptInPolicy="1",
            OptInCodeTimeout="120",
            OptInDisplayTimeout="300",
            OptInRequired="4294967295",
            OptInState="0",
        )
        self.time_sync = TimeSync()
        self.tls_committed = False
        self.temporary_tls_identity = None


def management_presence_reference(name: str) -> EndpointReference:
    return EndpointReference(
        resource_uri_for("AMT_ManagementPresenceRemoteSAP"),
        {
            "CreationClassName": "AMT_ManagementPresenceRemoteSAP",
            "Name": name,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "Intel(r) AMT",
        },
    )


def policy_rule_reference(rule_name: str) -> EndpointReference:
    return EndpointReference(
        resource_uri_for("AMT_RemoteAccessPolicyRule"),
        {
            "CreationClassName": "AMT_RemoteAccessPolicyRule",
            "PolicyRuleName": rule_name,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "Intel(r) AMT",
        },
    )
