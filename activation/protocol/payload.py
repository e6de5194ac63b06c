"""The device payload (protocol.md §2.4) typed and checked: §2.6.2 common checks, §2.6.3 the AMT
version, and the parts of §2.6.4-2.6.6 that need neither the database nor Vault, in upstream's
order with its texts (corrections 7 and 19)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from activation.protocol.javascript import js_parse_int, js_text
from activation.protocol.messages import (
    ClientMethod,
    CommandLine,
    DevicePayload,
    HostnameInfo,
    IpConfiguration,
    MaintenanceTask,
    ProtocolError,
)
from devices.models import ControlMode
from rps_site.sensitive import Secret

DEVICE_GUID_PATTERN: Final = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
# Values firmware and OEMs leave in SMBIOS when no real UUID was burned in (rpc-go refuses them
# too): they are not identities, and two machines would share one Vault secret.
PLACEHOLDER_GUIDS: Final = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "03000200-0400-0500-0006-000700080009",
    }
)

# §2.6.3: firmware generations that need build >= 3000 to be remotely configurable.
VERSIONS_NEEDING_BUILD_3000: Final = frozenset({7.0, 7.1, 8.0, 8.1, 9.0, 9.1, 9.5, 10.0, 11.0, 11.5, 11.6})


def validate_device_payload(raw: dict[str, Any], command: CommandLine, *, client_id: str) -> DevicePayload:
    """§2.6.2-2.6.6 in upstream's order, for the checks that need neither database nor Vault."""
    uuid_value = raw.get("uuid")
    # §2.6.2, plus what upstream lacks: the GUID names a Vault path, so it must be a GUID.
    if not isinstance(uuid_value, str) or len(uuid_value) != 36:
        raise ProtocolError(f"{client_id} - uuid not valid length")
    guid = uuid_value.lower()
    if not DEVICE_GUID_PATTERN.match(guid):
        raise ProtocolError(f"{client_id} - uuid not valid: not a GUID")
    if guid in PLACEHOLDER_GUIDS:
        raise ProtocolError(f"{client_id} - uuid not valid: {guid} is a placeholder, not a device identity")

    payload = _typed_payload(raw, guid=guid, command=command)
    action = command.action
    if action is ClientMethod.ACTIVATE:
        _check_amt_version(payload, "activation")
        if not (payload.password or command.password):
            raise ProtocolError(f"Device {guid} activation failed. Missing password.")
    elif action is ClientMethod.DEACTIVATE:
        if payload.current_mode is ControlMode.PRE_PROVISIONING:
            raise ProtocolError(f"Device {guid} is in pre-provisioning mode.")
        _check_amt_version(payload, "deactivation")
    else:
        if command.task is None:
            raise ProtocolError(f"{client_id} - missing maintenance task in message")
        if payload.current_mode is ControlMode.PRE_PROVISIONING:
            raise ProtocolError(f"Device {guid} is in pre-provisioning mode.")
        if command.task is MaintenanceTask.SYNC_IP and payload.ip_configuration is None:
            raise ProtocolError(f"{client_id} - missing ipConfiguration")
        if command.task is MaintenanceTask.SYNC_HOSTNAME and payload.hostname_info is None:
            raise ProtocolError(f"{client_id} - missing HostnameInfo")
    return payload


def _typed_payload(raw: dict[str, Any], *, guid: str, command: CommandLine) -> DevicePayload:
    invalid = ProtocolError("Error: Invalid payload from client")

    def text(key: str) -> str:
        value = raw.get(key)
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return json.dumps(value)  # a version or build sent as a number
        raise invalid

    def flag(key: str) -> bool:
        return raw.get(key) is True

    password = raw.get("password")
    if password is not None and not isinstance(password, str):
        raise invalid
    return DevicePayload(
        ver=text("ver"),
        build=text("build"),
        sku=text("sku"),
        features=text("features"),
        uuid=guid,
        username=text("username"),
        password=Secret(password) if password else None,
        current_mode=_control_mode(raw.get("currentMode"), guid=guid, command=command),
        hostname=text("hostname"),
        fqdn=text("fqdn"),
        client=text("client"),
        cert_hashes=_cert_hashes(raw.get("certHashes")),
        ip_configuration=_ip_configuration(raw.get("ipConfiguration")),
        hostname_info=_hostname_info(raw.get("hostnameInfo")),
        friendly_name=text("friendlyName"),
        tls_enforced=flag("tlsEnforced"),
        tls_tunnel=flag("tlsTunnel"),
        progress_supported=flag("progressSupported"),
    )


def _control_mode(value: object, *, guid: str, command: CommandLine) -> ControlMode:
    """`currentMode` must be 0, 1 or 2. Upstream's texts for anything else differ per action;
    upstream lets a missing mode through deactivation, we do not (SECURITY.md check 11)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
        return ControlMode(value)
    action = command.action
    if action is ClientMethod.ACTIVATE:
        raise ProtocolError(f"Device {guid} activation failed. It is in unknown mode.")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if action is ClientMethod.MAINTENANCE and (
        value is None or (is_number and isinstance(value, int | float) and value <= 0)
    ):
        raise ProtocolError(f"Device {guid} is in pre-provisioning mode.")
    verb = "deactivation" if action is ClientMethod.DEACTIVATE else "maintenance"
    shown = "undefined" if value is None else js_text(value)
    raise ProtocolError(f"Device {guid} {verb} failed. It is in unknown mode: {shown}.")


def _cert_hashes(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProtocolError("Error: Invalid payload from client")
    return tuple(item.lower() for item in value)


def _ip_configuration(value: object) -> IpConfiguration | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("Error: Invalid payload from client")
    return IpConfiguration(
        dhcp=value.get("dhcp") is True,
        static=value.get("static") is True,
        ipsync=value.get("ipsync") is True,
        ip_address=_optional_text(value, "ipAddress"),
        netmask=_optional_text(value, "netmask"),
        gateway=_optional_text(value, "gateway"),
        primary_dns=_optional_text(value, "primaryDns"),
        secondary_dns=_optional_text(value, "secondaryDns"),
    )


def _hostname_info(value: object) -> HostnameInfo | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("Error: Invalid payload from client")
    return HostnameInfo(
        dns_suffix_os=_optional_text(value, "dnsSuffixOS"),
        hostname=_optional_text(value, "hostname"),
    )


def _optional_text(mapping: Mapping[str, object], key: str) -> str:
    value = mapping.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError("Error: Invalid payload from client")
    return value


def _check_amt_version(payload: DevicePayload, action: str) -> None:
    """§2.6.3 with correction 7: the version text is the raw `ver` string."""
    version = payload.amt_version
    if version in VERSIONS_NEEDING_BUILD_3000:
        build = js_parse_int(payload.build)
        if build is not None and build < 3000:
            raise ProtocolError(
                f"Device {payload.uuid} {action} failed. Please check with your OEM for a firmware update."
            )
    # Upstream lets an unreadable version through (NaN < 7 is false); we do not guess.
    elif version is None or version < 7:
        raise ProtocolError(
            f"Device {payload.uuid} {action} failed. AMT version: {payload.ver}. "
            "Version less than 7 cannot be remotely configured "
        )
