"""Wired and wireless network settings, 802.1X and HTTP proxies (protocol.md §4.6–4.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from amtsim.device.services import SERVICE_TABLE, DeviceHangs, ReturnCode, put_body, require_selector
from amtsim.device.state import CimInstance
from amtsim.device.wsman import (
    EndpointReference,
    Properties,
    SoapFault,
    WsmanReply,
    WsmanRequest,
    empty_reply,
    instance_reply,
    local_name,
    method_reply,
    parse_properties,
    resource_uri_for,
)

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

# Write-only secrets: stored, never read back.
SECRET_PROPERTIES = frozenset({"PSKPassPhrase", "Password"})
ETHERNET_READ_ONLY = frozenset(
    {"InstanceID", "ElementName", "MACAddress", "LinkIsUp", "LinkPolicy", "PhysicalConnectionType", "SharedMAC"}
)
# With DHCP on, these come from the lease, not from the Put: a DHCP Put keeps all five
# (reference/wsman-fixtures/AMT_EthernetPortSettings_Put.xml answers DHCPEnabled=true with them).
DHCP_LEASE_PROPERTIES = ("IPAddress", "SubnetMask", "DefaultGateway", "PrimaryDNS", "SecondaryDNS")
IEEE8021X_READ_ONLY = frozenset({"InstanceID"})
WIFI_PORT_CONFIGURATION_READ_ONLY = frozenset(
    {"CreationClassName", "ElementName", "Name", "SystemCreationClassName", "SystemName", "EnabledState", "HealthState"}
)
PSK_AUTHENTICATION_METHODS = {"4", "6"}
IEEE8021X_AUTHENTICATION_METHODS = {"5", "7"}
MAX_WIFI_PROFILES = 8  # user-defined Wi-Fi profiles AMT keeps
EAP_TLS = "0"
PEAP_MSCHAPV2 = "2"


def public_properties(instance: CimInstance) -> Properties:
    return {name: values for name, values in instance.sorted_properties().items() if name not in SECRET_PROPERTIES}


# -- AMT_EthernetPortSettings ---------------------------------------------------------------

SERVICE_TABLE.register_enumerable(
    "AMT_EthernetPortSettings",
    lambda device: [port.sorted_properties() for port in device.state.ethernet_ports],
)


def _port_by_instance_id(device: VirtualAmtDevice, request: WsmanRequest) -> CimInstance:
    instance_id = require_selector(request, "InstanceID")
    for port in device.state.ethernet_ports:
        if port.get("InstanceID") == instance_id:
            return port
    raise SoapFault.invalid_selectors()


@SERVICE_TABLE.register("AMT_EthernetPortSettings", "Get")
def get_ethernet_port(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(
        request, "AMT_EthernetPortSettings", _port_by_instance_id(device, request).sorted_properties()
    )


@SERVICE_TABLE.register("AMT_EthernetPortSettings", "Put")
def put_ethernet_port(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    port = _port_by_instance_id(device, request)
    wired = port is device.state.wired_port
    if wired and device.state.identity.enforces_tls:
        # AMT 19 hangs on a wired-port Put (protocol.md §4.7.2); servers must not send it.
        raise DeviceHangs("AMT 19+ does not answer a wired AMT_EthernetPortSettings Put")
    written = put_body(request)
    updated = port.copy()
    updated.replace_writable(written, ETHERNET_READ_ONLY)
    dhcp = updated.flag("DHCPEnabled")
    if dhcp:
        for name in DHCP_LEASE_PROPERTIES:
            if name in port.properties:
                updated.properties[name] = port.values(name)
            else:
                updated.remove(name)
    static_without_sync = wired and not dhcp and not updated.flag("IpSyncEnabled")
    if static_without_sync and not (updated.get("IPAddress") and updated.get("SubnetMask")):
        raise SoapFault.invalid_representation("a static address without IP sync needs IPAddress and SubnetMask")
    port.properties = updated.properties
    return instance_reply(request, "AMT_EthernetPortSettings", port.sorted_properties())


# -- IPS_IEEE8021xSettings --------------------------------------------------------------------


@SERVICE_TABLE.register("IPS_IEEE8021xSettings", "Get")
def get_ieee8021x(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(request, "IPS_IEEE8021xSettings", public_properties(device.state.ieee8021x))


@SERVICE_TABLE.register("IPS_IEEE8021xSettings", "Put")
def put_ieee8021x(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    settings = device.state.ieee8021x
    settings.replace_writable(put_body(request), IEEE8021X_READ_ONLY)
    return instance_reply(request, "IPS_IEEE8021xSettings", public_properties(settings))


def _linked_certificates(
    device: VirtualAmtDevice, request: WsmanRequest, roles: dict[str, bool]
) -> dict[str, str] | None:
    """The certificates the call references, by parameter name, each checked: a role that wants a
    root (the RADIUS server's issuer) must name a trusted root; a client certificate must be one
    whose key this device generated. None when a reference is unusable."""
    properties = request.body_properties()
    linked: dict[str, str] = {}
    for parameter, wants_root in roles.items():
        references = [value for value in properties.get(parameter, []) if isinstance(value, EndpointReference)]
        if not references:
            continue
        instance_id = references[0].selectors.get("InstanceID")
        stored = device.state.certificate(instance_id) if isinstance(instance_id, str) else None
        if stored is None or stored.trusted_root != wants_root:
            return None
        if not wants_root and device.state.key_pair_for(stored.certificate) is None:
            return None
        linked[parameter] = stored.instance_id
    return linked


@SERVICE_TABLE.register("IPS_IEEE8021xSettings", "SetCertificates")
def set_ieee8021x_certificates(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    """Link the wired 802.1X settings to the RADIUS server's issuer and (EAP-TLS) the client
    certificate; PEAP links the issuer alone."""
    linked = _linked_certificates(device, request, {"ServerCertificateIssuer": True, "ClientCertificate": False})
    if not linked:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.ieee8021x_certificates = linked
    return method_reply(request, ReturnCode.SUCCESS)


# -- Wi-Fi ------------------------------------------------------------------------------------

SERVICE_TABLE.register_enumerable(
    "CIM_WiFiEndpointSettings",
    lambda device: [public_properties(entry) for entry in device.state.wifi_endpoint_settings],
)


@SERVICE_TABLE.register("CIM_WiFiEndpointSettings", "Delete")
def delete_wifi_endpoint_settings(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    instance_id = require_selector(request, "InstanceID")
    remaining = [entry for entry in device.state.wifi_endpoint_settings if entry.get("InstanceID") != instance_id]
    if len(remaining) == len(device.state.wifi_endpoint_settings):
        raise SoapFault.invalid_selectors()
    device.state.wifi_endpoint_settings = remaining
    device.state.wifi_ieee8021x_settings.pop(instance_id, None)
    device.state.wifi_ieee8021x_credentials.pop(instance_id, None)
    # Real firmware answers a Delete with an empty Body.
    return empty_reply(request)


@SERVICE_TABLE.register("AMT_WiFiPortConfigurationService", "Get")
def get_wifi_port_configuration(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    return instance_reply(
        request, "AMT_WiFiPortConfigurationService", device.state.wifi_port_configuration.sorted_properties()
    )


@SERVICE_TABLE.register("AMT_WiFiPortConfigurationService", "Put")
def put_wifi_port_configuration(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    configuration = device.state.wifi_port_configuration
    configuration.replace_writable(put_body(request), WIFI_PORT_CONFIGURATION_READ_ONLY)
    return instance_reply(request, "AMT_WiFiPortConfigurationService", configuration.sorted_properties())


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((child for child in element if local_name(child.tag) == name), None)


@SERVICE_TABLE.register("AMT_WiFiPortConfigurationService", "AddWiFiSettings")
def add_wifi_settings(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    if state.wireless_port is None:
        return method_reply(request, ReturnCode.NOT_PERMITTED)
    settings_element = _child(request.body, "WiFiEndpointSettingsInput")
    endpoint = _child(request.body, "WiFiEndpoint")
    if settings_element is None or endpoint is None:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    settings = CimInstance("CIM_WiFiEndpointSettings", {})
    settings.properties = parse_properties(settings_element)
    authentication = settings.get("AuthenticationMethod") or ""
    passphrase = settings.get("PSKPassPhrase") or ""
    valid = (
        bool(settings.get("SSID"))
        and bool(settings.get("InstanceID"))
        and settings.get("EncryptionMethod") in ("3", "4")
        and (
            authentication in IEEE8021X_AUTHENTICATION_METHODS
            or (authentication in PSK_AUTHENTICATION_METHODS and 8 <= len(passphrase) <= 63)
        )
        and (settings.get("Priority") or "").isdigit()
    )
    if not valid:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    ieee8021x: CimInstance | None = None
    credentials: dict[str, str] | None = {}
    if authentication in IEEE8021X_AUTHENTICATION_METHODS:
        # An 802.1X profile carries its 802.1X settings: a user, and for PEAP-MSCHAPv2 a password.
        ieee8021x_element = _child(request.body, "IEEE8021xSettingsInput")
        if ieee8021x_element is None:
            return method_reply(request, ReturnCode.INVALID_PARAMETER)
        ieee8021x = CimInstance("CIM_IEEE8021xSettings", {})
        ieee8021x.properties = parse_properties(ieee8021x_element)
        protocol = ieee8021x.get("AuthenticationProtocol")
        if not ieee8021x.get("Username") or (protocol == PEAP_MSCHAPV2 and not ieee8021x.get("Password")):
            return method_reply(request, ReturnCode.INVALID_PARAMETER)
        # EAP-TLS authenticates with a client certificate (ClientCredential); both kinds may name
        # the CA the RADIUS server's certificate must chain to (CACredential).
        credentials = _linked_certificates(device, request, {"CACredential": True, "ClientCredential": False})
        if credentials is None or (protocol == EAP_TLS and "ClientCredential" not in credentials):
            return method_reply(request, ReturnCode.INVALID_PARAMETER)
    duplicate = any(
        entry.get("InstanceID") == settings.get("InstanceID") or entry.get("Priority") == settings.get("Priority")
        for entry in state.wifi_endpoint_settings
    )
    if duplicate:
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    if len(state.wifi_endpoint_settings) >= MAX_WIFI_PROFILES:
        return method_reply(request, ReturnCode.MAX_LIMIT_REACHED)
    settings.set("BSSType", "3")
    state.wifi_endpoint_settings.append(settings)
    if ieee8021x is not None and credentials is not None:
        state.wifi_ieee8021x_settings[settings.get("InstanceID") or ""] = ieee8021x
        state.wifi_ieee8021x_credentials[settings.get("InstanceID") or ""] = credentials
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register("CIM_WiFiPort", "RequestStateChange")
def wifi_port_request_state_change(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    requested = request.body_text("RequestedState") or ""
    if requested not in ("3", "32768", "32769"):
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    device.state.wifi_port_requested_state = int(requested)
    return method_reply(request, ReturnCode.SUCCESS)


# -- HTTP proxies -------------------------------------------------------------------------------

SERVICE_TABLE.register_enumerable(
    "IPS_HTTPProxyAccessPoint",
    lambda device: [entry.sorted_properties() for entry in device.state.proxy_access_points],
)


def _proxy_reference(name: str) -> EndpointReference:
    return EndpointReference(
        resource_uri_for("IPS_HTTPProxyAccessPoint"),
        {
            "CreationClassName": "IPS_HTTPProxyAccessPoint",
            "Name": name,
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "Intel(r) AMT",
        },
    )


@SERVICE_TABLE.register("IPS_HTTPProxyService", "AddProxyAccessPoint")
def add_proxy_access_point(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    access_info = request.body_text("AccessInfo") or ""
    info_format = request.body_text("InfoFormat") or ""
    port = request.body_text("Port") or ""
    if not access_info or info_format not in ("3", "4", "201") or not port.isdigit():
        return method_reply(request, ReturnCode.INVALID_PARAMETER)
    name = f"Intel(r) ME:HTTP Proxy Access Point {device.state.allocate_handle()}"
    device.state.proxy_access_points.append(
        CimInstance(
            "IPS_HTTPProxyAccessPoint",
            {
                "AccessInfo": access_info,
                "CreationClassName": "IPS_HTTPProxyAccessPoint",
                "ElementName": "Intel(r) ME:HTTP Proxy Access Point",
                "InfoFormat": info_format,
                "Name": name,
                "NetworkDnsSuffix": request.body_text("NetworkDnsSuffix") or "",
                "Port": port,
                "SystemCreationClassName": "CIM_ComputerSystem",
                "SystemName": "Intel(r) AMT",
            },
        )
    )
    return method_reply(request, ReturnCode.SUCCESS, {"ProxyAccessPoint": [_proxy_reference(name)]})


@SERVICE_TABLE.register("IPS_HTTPProxyAccessPoint", "Delete")
def delete_proxy_access_point(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    name = require_selector(request, "Name")
    remaining = [entry for entry in device.state.proxy_access_points if entry.get("Name") != name]
    if len(remaining) == len(device.state.proxy_access_points):
        raise SoapFault.invalid_selectors()
    device.state.proxy_access_points = remaining
    return empty_reply(request)
