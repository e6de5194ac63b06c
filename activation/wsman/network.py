"""Network calls (protocol.md §4.6 steps 1-4, §4.7, §4.12 syncip): wired and wireless port
settings, 802.1X, Wi-Fi profiles and port, HTTP proxies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from activation.wsman.call import Enumeration, MethodResult, WsmanCall, method_call, nothing_to_read
from activation.wsman.envelope import (
    CimObject,
    EmbeddedInstance,
    EndpointReference,
    PropertyValue,
    Selector,
    amt_resource,
    cim_resource,
    delete_request,
    get_request,
    ips_resource,
    method_request,
    put_request,
    wsman_bool,
)
from activation.wsman.response import SoapEnvelope, cim_object, parse_bool, parse_optional_int
from rps_site.sensitive import Secret

ETHERNET_PORT_SETTINGS_URI: Final = amt_resource("AMT_EthernetPortSettings")
IEEE8021X_SETTINGS_URI: Final = ips_resource("IPS_IEEE8021xSettings")
CIM_IEEE8021X_SETTINGS_URI: Final = cim_resource("CIM_IEEE8021xSettings")
WIFI_ENDPOINT_SETTINGS_URI: Final = cim_resource("CIM_WiFiEndpointSettings")
WIFI_ENDPOINT_URI: Final = cim_resource("CIM_WiFiEndpoint")
WIFI_PORT_URI: Final = cim_resource("CIM_WiFiPort")
WIFI_PORT_CONFIGURATION_SERVICE_URI: Final = amt_resource("AMT_WiFiPortConfigurationService")
BOOT_CAPABILITIES_URI: Final = amt_resource("AMT_BootCapabilities")
PUBLIC_KEY_CERTIFICATE_URI: Final = amt_resource("AMT_PublicKeyCertificate")

IP_FIELDS: Final = ("IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS")
WIFI_ENABLED_IN_S0_SX_AC: Final = 32769  # CIM_WiFiPort RequestedState (§4.7.4 step 3)


# ---------------------------------------------------------------------------------------------
# AMT_EthernetPortSettings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EthernetPortSettings:
    instance_id: str
    mac_address: str
    dhcp_enabled: bool
    ip_sync_enabled: bool
    shared_static_ip: bool
    ip_address: str
    subnet_mask: str
    default_gateway: str
    primary_dns: str
    secondary_dns: str
    instance: CimObject = field(repr=False)

    @property
    def is_wired(self) -> bool:
        return "Settings 0" in self.instance_id

    @property
    def is_wireless(self) -> bool:
        return "Settings 1" in self.instance_id

    @property
    def exists(self) -> bool:
        """§4.6 step 1: a port exists when it reports a MAC address."""
        return bool(self.mac_address)


def _ethernet_port_settings(instance: CimObject) -> EthernetPortSettings:
    return EthernetPortSettings(
        instance_id=instance.value("InstanceID") or "",
        mac_address=instance.value("MACAddress") or "",
        dhcp_enabled=parse_bool(instance.value("DHCPEnabled"), "DHCPEnabled"),
        ip_sync_enabled=parse_bool(instance.value("IpSyncEnabled"), "IpSyncEnabled"),
        shared_static_ip=parse_bool(instance.value("SharedStaticIp"), "SharedStaticIp"),
        ip_address=instance.value("IPAddress") or "",
        subnet_mask=instance.value("SubnetMask") or "",
        default_gateway=instance.value("DefaultGateway") or "",
        primary_dns=instance.value("PrimaryDNS") or "",
        secondary_dns=instance.value("SecondaryDNS") or "",
        instance=instance,
    )


ETHERNET_PORT_SETTINGS: Final = Enumeration(
    "AMT_EthernetPortSettings", ETHERNET_PORT_SETTINGS_URI, _ethernet_port_settings
)


@dataclass(frozen=True)
class StaticAddress:
    ip_address: str
    subnet_mask: str
    default_gateway: str
    primary_dns: str
    secondary_dns: str


def put_ethernet_port_settings(
    port: EthernetPortSettings,
    *,
    dhcp_enabled: bool | None = None,
    ip_sync_enabled: bool | None = None,
    shared_static_ip: bool | None = None,
    static_address: StaticAddress | None = None,
    remove_ip_fields: bool = False,
    console_tcp_max_retransmissions: int | None = None,
) -> WsmanCall[EthernetPortSettings]:
    """Put with header selector InstanceID; the answer echoes the applied settings (§4.7.2)."""
    changes: dict[str, PropertyValue | Sequence[str] | None] = {}
    if dhcp_enabled is not None:
        changes["DHCPEnabled"] = wsman_bool(dhcp_enabled)
    if ip_sync_enabled is not None:
        changes["IpSyncEnabled"] = wsman_bool(ip_sync_enabled)
    if shared_static_ip is not None:
        changes["SharedStaticIp"] = wsman_bool(shared_static_ip)
    if console_tcp_max_retransmissions is not None:
        changes["ConsoleTcpMaxRetransmissions"] = str(console_tcp_max_retransmissions)
    if remove_ip_fields:
        changes.update(dict.fromkeys(IP_FIELDS))
    if static_address is not None:
        changes.update(
            {
                "IPAddress": static_address.ip_address,
                "SubnetMask": static_address.subnet_mask,
                "DefaultGateway": static_address.default_gateway,
                "PrimaryDNS": static_address.primary_dns,
                "SecondaryDNS": static_address.secondary_dns,
            }
        )
    instance = port.instance.with_values(changes)
    return WsmanCall(
        "AMT_EthernetPortSettings.Put",
        put_request(instance, (Selector("InstanceID", port.instance_id),)),
        lambda envelope: _ethernet_port_settings(cim_object(envelope.body_element("AMT_EthernetPortSettings"))),
    )


# ---------------------------------------------------------------------------------------------
# IPS_IEEE8021xSettings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ieee8021xSettings:
    enabled: int | None  # 2 enabled, 3 disabled, 6 enabled but offline
    instance: CimObject = field(repr=False)

    @property
    def is_enabled(self) -> bool:
        return self.enabled in (2, 6)


def _read_ieee8021x(envelope: SoapEnvelope) -> Ieee8021xSettings:
    instance = cim_object(envelope.body_element("IPS_IEEE8021xSettings"))
    return Ieee8021xSettings(enabled=parse_optional_int(instance.value("Enabled"), "Enabled"), instance=instance)


def get_ieee8021x_settings() -> WsmanCall[Ieee8021xSettings]:
    return WsmanCall("IPS_IEEE8021xSettings.Get", get_request(IEEE8021X_SETTINGS_URI), _read_ieee8021x)


def disable_ieee8021x(settings: Ieee8021xSettings) -> WsmanCall[None]:
    """§4.6 step 2: Enabled=3, credentials removed."""
    instance = settings.instance.with_values(
        {"Enabled": "3", "Username": None, "Password": None, "AuthenticationProtocol": None}
    )
    return WsmanCall("IPS_IEEE8021xSettings.Put", put_request(instance), nothing_to_read)


IEEE8021X_ELEMENT_NAME: Final = "Intel(r) AMT: 8021X Settings"


def enable_ieee8021x(
    settings: Ieee8021xSettings,
    *,
    authentication_protocol: int,
    username: str,
    password: Secret | None,
    pxe_timeout: int,
    profile_name: str,
) -> WsmanCall[None]:
    """§4.7.3 step 5. `password` only for PEAP-MSCHAPv2 (protocol 2)."""
    instance = settings.instance.with_values(
        {
            "Enabled": "2",
            "AvailableInS0": "true",
            "AuthenticationProtocol": str(authentication_protocol),
            "Username": username,
            "Password": password.reveal() if password is not None and authentication_protocol == 2 else None,
            "PxeTimeout": str(pxe_timeout),
            # Set, not appended to what AMT holds (upstream appends: "... wired wired", B14).
            "ElementName": f"{IEEE8021X_ELEMENT_NAME} {profile_name}",
        }
    )
    return WsmanCall("IPS_IEEE8021xSettings.Put", put_request(instance), nothing_to_read)


def set_ieee8021x_certificates(
    *, server_certificate_issuer: str, client_certificate: str | None
) -> WsmanCall[MethodResult]:
    """§4.7.3 step 6: AMT_PublicKeyCertificate InstanceIDs; PEAP has no client certificate."""
    parameters: list[tuple[str, PropertyValue | EmbeddedInstance]] = [
        ("ServerCertificateIssuer", _certificate_reference(server_certificate_issuer))
    ]
    if client_certificate is not None:
        parameters.append(("ClientCertificate", _certificate_reference(client_certificate)))
    request = method_request(IEEE8021X_SETTINGS_URI, "SetCertificates", parameters)
    return method_call("IPS_IEEE8021xSettings.SetCertificates", request, "SetCertificates")


def _certificate_reference(instance_id: str) -> EndpointReference:
    return EndpointReference(PUBLIC_KEY_CERTIFICATE_URI, (Selector("InstanceID", instance_id),), address="/wsman")


# ---------------------------------------------------------------------------------------------
# Wi-Fi
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WifiEndpointSettings:
    instance_id: str
    element_name: str
    priority: int | None


WIFI_ENDPOINT_SETTINGS: Final = Enumeration(
    "CIM_WiFiEndpointSettings",
    WIFI_ENDPOINT_SETTINGS_URI,
    lambda instance: WifiEndpointSettings(
        instance_id=instance.value("InstanceID") or "",
        element_name=instance.value("ElementName") or "",
        priority=parse_optional_int(instance.value("Priority"), "Priority"),
    ),
)


def delete_wifi_endpoint_settings(instance_id: str) -> WsmanCall[None]:
    return WsmanCall(
        "CIM_WiFiEndpointSettings.Delete",
        delete_request(WIFI_ENDPOINT_SETTINGS_URI, Selector("InstanceID", instance_id)),
        nothing_to_read,
    )


def enable_wifi_port() -> WsmanCall[MethodResult]:
    request = method_request(WIFI_PORT_URI, "RequestStateChange", [("RequestedState", str(WIFI_ENABLED_IN_S0_SX_AC))])
    return method_call("CIM_WiFiPort.RequestStateChange", request, "RequestStateChange")


@dataclass(frozen=True)
class WifiPortConfiguration:
    local_profile_synchronization_enabled: int | None
    uefi_wifi_profile_share_enabled: bool
    instance: CimObject = field(repr=False)


def _read_wifi_port_configuration(envelope: SoapEnvelope) -> WifiPortConfiguration:
    instance = cim_object(envelope.body_element("AMT_WiFiPortConfigurationService"))
    return WifiPortConfiguration(
        local_profile_synchronization_enabled=parse_optional_int(
            instance.value("localProfileSynchronizationEnabled"), "localProfileSynchronizationEnabled"
        ),
        uefi_wifi_profile_share_enabled=parse_bool(
            instance.value("UEFIWiFiProfileShareEnabled"), "UEFIWiFiProfileShareEnabled"
        ),
        instance=instance,
    )


def get_wifi_port_configuration() -> WsmanCall[WifiPortConfiguration]:
    return WsmanCall(
        "AMT_WiFiPortConfigurationService.Get",
        get_request(WIFI_PORT_CONFIGURATION_SERVICE_URI),
        _read_wifi_port_configuration,
    )


def put_wifi_port_configuration(
    configuration: WifiPortConfiguration, *, local_sync_enabled: bool, uefi_profile_share: bool | None
) -> WsmanCall[WifiPortConfiguration]:
    """§4.7.4 step 2: local sync 3 (on) / 0 (off); UEFI share only where the BIOS supports it."""
    changes: dict[str, PropertyValue | Sequence[str] | None] = {
        "localProfileSynchronizationEnabled": "3" if local_sync_enabled else "0"
    }
    if uefi_profile_share is not None:
        changes["UEFIWiFiProfileShareEnabled"] = "1" if uefi_profile_share else "0"
    return WsmanCall(
        "AMT_WiFiPortConfigurationService.Put",
        put_request(configuration.instance.with_values(changes)),
        _read_wifi_port_configuration,
    )


@dataclass(frozen=True)
class BootCapabilities:
    uefi_wifi_coexistence_and_profile_share: bool


def get_boot_capabilities() -> WsmanCall[BootCapabilities]:
    def read(envelope: SoapEnvelope) -> BootCapabilities:
        node = envelope.body_element("AMT_BootCapabilities")
        # absent on older firmware: counts as false (fixtures INDEX.md)
        return BootCapabilities(
            parse_bool(node.text_of("UEFIWiFiCoExistenceAndProfileShare"), "UEFIWiFiCoExistenceAndProfileShare")
        )

    return WsmanCall("AMT_BootCapabilities.Get", get_request(BOOT_CAPABILITIES_URI), read)


class WifiAuthentication(IntEnum):
    WPA_PSK = 4
    WPA_IEEE8021X = 5
    WPA2_PSK = 6
    WPA2_IEEE8021X = 7


class WifiEncryption(IntEnum):
    TKIP = 3
    CCMP = 4


PEAP_MSCHAPV2: Final = 2  # IEEE 802.1X AuthenticationProtocol (0 = EAP-TLS)


@dataclass(frozen=True)
class WifiIeee8021x:
    """The `IEEE8021xSettingsInput` of an 802.1X Wi-Fi profile (PEAP-MSCHAPv2 carries a password)."""

    name: str
    authentication_protocol: int
    username: str
    password: Secret | None = None
    roaming_identity: str = ""
    # AMT_PublicKeyCertificate InstanceIDs (Enterprise Assistant profiles): the EAP-TLS client
    # certificate and the root the RADIUS server's certificate must chain to.
    client_certificate: str | None = None
    ca_certificate: str | None = None


@dataclass(frozen=True)
class WifiProfile:
    name: str
    ssid: str
    priority: int
    authentication: WifiAuthentication
    encryption: WifiEncryption
    psk_passphrase: Secret | None = None
    ieee8021x: WifiIeee8021x | None = None


def add_wifi_settings(profile: WifiProfile) -> WsmanCall[MethodResult]:
    """§4.7.4 step 4. An 802.1X profile also carries `IEEE8021xSettingsInput`, and the
    `ClientCredential`/`CACredential` references of its certificates (enterprise-assistant.md §5.4)."""
    settings: list[tuple[str, PropertyValue]] = [
        ("ElementName", profile.name),
        ("InstanceID", f"Intel(r) AMT:WiFi Endpoint Settings {profile.name}"),
        ("AuthenticationMethod", str(int(profile.authentication))),
        ("EncryptionMethod", str(int(profile.encryption))),
        ("SSID", profile.ssid),
        ("Priority", str(profile.priority)),
    ]
    if profile.psk_passphrase is not None:
        settings.append(("PSKPassPhrase", profile.psk_passphrase.reveal()))
    parameters: list[tuple[str, PropertyValue | EmbeddedInstance]] = [
        (
            "WiFiEndpoint",
            EndpointReference(WIFI_ENDPOINT_URI, (Selector("Name", "WiFi Endpoint 0"),), address="/wsman"),
        ),
        ("WiFiEndpointSettingsInput", EmbeddedInstance(WIFI_ENDPOINT_SETTINGS_URI, tuple(settings))),
    ]
    if profile.ieee8021x is not None:
        parameters.append(("IEEE8021xSettingsInput", _wifi_ieee8021x_input(profile.ieee8021x)))
        if profile.ieee8021x.client_certificate is not None:
            parameters.append(("ClientCredential", _certificate_reference(profile.ieee8021x.client_certificate)))
        if profile.ieee8021x.ca_certificate is not None:
            parameters.append(("CACredential", _certificate_reference(profile.ieee8021x.ca_certificate)))
    request = method_request(WIFI_PORT_CONFIGURATION_SERVICE_URI, "AddWiFiSettings", parameters)
    return method_call("AMT_WiFiPortConfigurationService.AddWiFiSettings", request, "AddWiFiSettings")


def _wifi_ieee8021x_input(settings: WifiIeee8021x) -> EmbeddedInstance:
    properties: list[tuple[str, PropertyValue]] = [
        ("ElementName", settings.name),
        ("InstanceID", f"Intel(r) AMT:IEEE 802.1x Settings {settings.name}"),
        ("AuthenticationProtocol", str(settings.authentication_protocol)),
    ]
    if settings.roaming_identity:
        properties.append(("RoamingIdentity", settings.roaming_identity))
    properties.append(("Username", settings.username))
    if settings.password is not None and settings.authentication_protocol == PEAP_MSCHAPV2:
        properties.append(("Password", settings.password.reveal()))
    return EmbeddedInstance(CIM_IEEE8021X_SETTINGS_URI, tuple(properties))


# ---------------------------------------------------------------------------------------------
# Proxies
# ---------------------------------------------------------------------------------------------


class AddressFormat(IntEnum):
    IPV4 = 3
    IPV6 = 4
    FQDN = 201
