"""The rpc-go ⇄ RPS WebSocket envelope (protocol.md §1.4, §2) as dataclasses.

Inbound: `parse_client_message` turns one text frame into a typed message. The first message of a
connection becomes a `DeviceRequest` (command line of §2.3 + device payload of §2.4), checked in
upstream RPS v2.40's order with its exact texts (§2.6.1-2.6.6, corrections 7 and 19). Every
refusal is a `ProtocolError` whose `client_text` is what the client must be sent, as plain text,
in an `error` message (`validation_error_message`).

Outbound: `wsman_message`, `success_message`, `error_message`, `progress_message`,
`heartbeat_request` build the exact JSON rpc-go parses (§2.7, §2.8, §3.1).

Checks that need the database or Vault (profile lookup, stored password, domain suffix) are not
made here; the texts and pure rules they need are (`check_activation_mode`,
`check_acm_prerequisites`, `domain_suffix_candidates`, `PASSWORD_MISMATCH_TEXT`, ...).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum
from typing import Any, Final

import orjson

from rps_site.sensitive import Secret

SERVER_APP_VERSION: Final = "2.40.0"
SERVER_PROTOCOL_VERSION: Final = "4.0.0"
SERVER_API_KEY: Final = "xxxxx"

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
MAINTENANCE_TASKS: Final = ("synctime", "syncip", "changepassword", "synchostname", "syncdeviceinfo")


class ProtocolError(Exception):
    """A client message refused; `client_text` is sent back verbatim in an `error` message."""

    def __init__(self, client_text: str) -> None:
        super().__init__(client_text)
        self.client_text = client_text


class ClientMethod(StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    MAINTENANCE = "maintenance"
    RESPONSE = "response"
    TLS_DATA = "tls_data"
    CONNECTION_RESET = "connection_reset"
    PORT_SWITCH_ACK = "port_switch_ack"
    HEARTBEAT_RESPONSE = "heartbeat_response"


# Methods whose payload is not the device payload JSON (§2.2).
RELAY_METHODS: Final = frozenset(
    {
        ClientMethod.RESPONSE,
        ClientMethod.TLS_DATA,
        ClientMethod.CONNECTION_RESET,
        ClientMethod.PORT_SWITCH_ACK,
        ClientMethod.HEARTBEAT_RESPONSE,
    }
)


class ControlMode(IntEnum):
    """`currentMode` of the payload: what AMT reported over HECI."""

    PRE_PROVISIONING = 0
    CLIENT = 1
    ADMIN = 2


class ProfileActivation(StrEnum):
    CCM = "ccmactivate"
    ACM = "acmactivate"


class MaintenanceTask(StrEnum):
    SYNC_TIME = "synctime"
    SYNC_IP = "syncip"
    CHANGE_PASSWORD = "changepassword"
    SYNC_HOSTNAME = "synchostname"
    SYNC_DEVICE_INFO = "syncdeviceinfo"


@dataclass(frozen=True)
class IpConfiguration:
    dhcp: bool = False
    static: bool = False
    ipsync: bool = False
    ip_address: str = ""
    netmask: str = ""
    gateway: str = ""
    primary_dns: str = ""
    secondary_dns: str = ""


@dataclass(frozen=True)
class HostnameInfo:
    dns_suffix_os: str = ""
    hostname: str = ""


@dataclass(frozen=True)
class DevicePayload:
    """The device payload of §2.4, typed. `password` is the LSA password in pre-provisioning and
    the AMT admin password otherwise; it never appears in a repr."""

    ver: str
    build: str
    sku: str
    features: str
    uuid: str
    username: str
    password: Secret | None
    current_mode: ControlMode
    hostname: str
    fqdn: str
    client: str
    cert_hashes: tuple[str, ...] | None
    ip_configuration: IpConfiguration | None
    hostname_info: HostnameInfo | None
    friendly_name: str = ""
    tls_enforced: bool = False
    tls_tunnel: bool = False
    progress_supported: bool = False

    @property
    def amt_version(self) -> float | None:
        """`ver` read the way upstream reads it (JavaScript `parseFloat`: "16.1.27" → 16.1)."""
        return js_parse_float(self.ver)


@dataclass(frozen=True)
class CommandLine:
    """What upstream's minimist reading of the first `method` string yields (§2.3)."""

    action: ClientMethod
    profile: str = ""
    password: Secret | None = None
    force: bool = False
    task: MaintenanceTask | None = None
    task_argument: Secret | None = field(default=None)  # changepassword's static new password


@dataclass(frozen=True)
class DeviceRequest:
    """The first message of a connection: what the client asks for and about which device."""

    command: CommandLine
    payload: DevicePayload
    tenant_id: str
    client_app_version: str

    @property
    def action(self) -> ClientMethod:
        return self.command.action

    @property
    def device_guid(self) -> str:
        return self.payload.uuid

    @property
    def amt_password(self) -> Secret | None:
        """The payload's password, falling back to the command line's (§2.3)."""
        return self.payload.password or self.command.password

    @property
    def accepts_progress(self) -> bool:
        """§2.8: only rpc-go 2.x advertises it; v3 would relay a progress message to AMT."""
        return self.payload.progress_supported

    @property
    def switches_to_tls_tunnel(self) -> bool:
        """`--tls-tunnel` activating an AMT 11-18 device (§5.1): plain until RPS has given it TLS,
        then `port_switch` and the tunnel. (A TLS-enforced device is in the tunnel from the
        start; an activated one stays on the plain path.)"""
        return (
            self.payload.tls_tunnel
            and not self.payload.tls_enforced
            and self.action is ClientMethod.ACTIVATE
            and self.payload.current_mode is ControlMode.PRE_PROVISIONING
        )


@dataclass(frozen=True)
class DeviceResponse:
    """`response`: the raw HTTP bytes AMT answered to the last `wsman` request."""

    http_response: bytes = field(repr=False)


@dataclass(frozen=True)
class TlsData:
    records: bytes = field(repr=False)


@dataclass(frozen=True)
class ConnectionReset:
    reason: str  # "connection_closed" or "lms_error"


@dataclass(frozen=True)
class PortSwitchAck:
    pass


@dataclass(frozen=True)
class HeartbeatResponse:
    pass


ClientMessage = DeviceRequest | DeviceResponse | TlsData | ConnectionReset | PortSwitchAck | HeartbeatResponse


# ---------------------------------------------------------------------------------------------
# Inbound parsing
# ---------------------------------------------------------------------------------------------


def parse_client_message(text: str, *, client_id: str) -> ClientMessage:
    """Parse one text frame. `client_id` is this connection's random id, used (as upstream does)
    in a few error texts. Raises only `ProtocolError`."""
    envelope = _load_envelope(text)
    method_line = envelope.get("method")
    if not isinstance(method_line, str):
        method_line = ""
    raw_payload = envelope.get("payload")
    relay_method = _relay_method(method_line)
    if relay_method is not None:
        message = _relay_message(relay_method, raw_payload)
        _check_protocol_version(envelope.get("protocolVersion"))
        return message

    payload_json = _decode_device_payload(raw_payload)
    _check_protocol_version(envelope.get("protocolVersion"))
    command = parse_command_line(method_line)
    if command is None:
        uuid_text = payload_json.get("uuid") if payload_json is not None else None
        raise ProtocolError(f"Device {_js_text(uuid_text)} Not a supported method received from AMT device")
    if payload_json is None:
        # An action without payload: upstream dereferences `payload.uuid` of nothing.
        raise ProtocolError(f"{client_id} - Missing uuid from payload")
    tenant_id = envelope.get("tenantId", "")
    app_version = envelope.get("appVersion", "")
    if tenant_id is None:
        tenant_id = ""
    if not isinstance(tenant_id, str) or not isinstance(app_version, str):
        raise ProtocolError("Error: Invalid payload from client")
    payload = _validate_device_payload(payload_json, command, client_id=client_id)
    return DeviceRequest(command=command, payload=payload, tenant_id=tenant_id, client_app_version=app_version)


def _load_envelope(text: str) -> dict[str, Any]:
    # orjson (every frame passes here): strict RFC 8259 like JavaScript's JSON.parse, so no
    # NaN/Infinity, and a nesting limit instead of a RecursionError.
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ProtocolError(f"SyntaxError: {_json_error_text(error)}") from None
    if not isinstance(envelope, dict):
        raise ProtocolError("SyntaxError: the message is not a JSON object")
    return envelope


def _refuse_json_constant(name: str) -> None:
    # JavaScript's JSON.parse has no NaN/Infinity; Python's json would accept them.
    raise ValueError(f"Unexpected token {name[0]} in JSON")


def _json_error_text(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply"
    return str(error).splitlines()[0][:200]


def _relay_method(method_line: str) -> ClientMethod | None:
    try:
        method = ClientMethod(method_line)
    except ValueError:
        return None
    return method if method in RELAY_METHODS else None


def _relay_message(method: ClientMethod, raw_payload: object) -> ClientMessage:
    if method is ClientMethod.HEARTBEAT_RESPONSE:
        return HeartbeatResponse()
    if method is ClientMethod.PORT_SWITCH_ACK:
        return PortSwitchAck()
    data = _decode_base64(raw_payload)
    if method is ClientMethod.RESPONSE:
        return DeviceResponse(http_response=data)
    if method is ClientMethod.TLS_DATA:
        return TlsData(records=data)
    return ConnectionReset(reason=data.decode("ascii", errors="replace"))


def _decode_base64(raw_payload: object) -> bytes:
    if raw_payload is None or raw_payload == "":
        return b""
    if not isinstance(raw_payload, str):
        raise ProtocolError("Error: Failed to parse client message payload. payload is not a string")
    try:
        return base64.b64decode(raw_payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("Error: Failed to parse client message payload. payload is not valid base64") from None


def _decode_device_payload(raw_payload: object) -> dict[str, Any] | None:
    """§2.6.1 step 2: base64 → JSON; `client`, `ver`, `build`, `uuid` must be truthy."""
    if raw_payload is None or raw_payload == "":
        return None
    data = _decode_base64(raw_payload)
    try:
        payload = json.loads(data.decode("utf-8"), parse_constant=_refuse_json_constant)
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"Error: Failed to parse client message payload. {_json_error_text(error)}") from None
    if not isinstance(payload, dict) or not all(
        _js_truthy(payload.get(key)) for key in ("client", "ver", "build", "uuid")
    ):
        raise ProtocolError("Error: Invalid payload from client")
    uuid = payload["uuid"]
    if isinstance(uuid, list):
        payload["uuid"] = _guid_from_smbios_bytes(uuid)
    return payload


def _guid_from_smbios_bytes(raw: list[Any]) -> str:
    """Upstream accepts the UUID as 16 raw bytes: the first three groups are little-endian."""
    if len(raw) != 16 or not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in raw):
        raise ProtocolError("Error: Invalid payload from client")
    data = bytes(raw)
    return "-".join(
        [
            data[3::-1].hex(),
            data[5:3:-1].hex(),
            data[7:5:-1].hex(),
            data[8:10].hex(),
            data[10:].hex(),
        ]
    )


def _check_protocol_version(version: object) -> None:
    """§2.6.1 step 3 (upstream's VersionChecker against server 4.0.0). Missing is accepted."""
    if not _js_truthy(version):
        return
    text = version if isinstance(version, str) else json.dumps(version)
    parts = text.split(".")
    if len(parts) > 3:
        raise ProtocolError("Error: invalid version string length")
    numbers: list[int] = []
    for name, part in zip(("major", "minor", "revision"), parts, strict=False):
        number = js_parse_int(part)
        if number is None:
            raise ProtocolError(f"Error: failed to parse {name}")
        numbers.append(number)
    major, minor, revision = (numbers + [0, 0])[:3]
    server_major, server_minor, server_revision = 4, 0, 0
    compatible = major == server_major and (
        minor < server_minor or (minor == server_minor and revision <= server_revision)
    )
    if not compatible:
        raise ProtocolError(f"Error: protocol version NOT supported: {text}")


def parse_command_line(method_line: str) -> CommandLine | None:
    """§2.3: the `method` string read as upstream's minimist options read it. None when the first
    word is not an action this server handles."""
    words = method_line.strip().split(" ")
    try:
        action = ClientMethod(words[0])
    except ValueError:
        return None
    if action not in (ClientMethod.ACTIVATE, ClientMethod.DEACTIVATE, ClientMethod.MAINTENANCE):
        return None
    options = _minimist(words[1:])
    task: MaintenanceTask | None = None
    task_argument: Secret | None = None
    if action is ClientMethod.MAINTENANCE:
        for name in MAINTENANCE_TASKS:
            if options.flags.get(name) is True:
                task = MaintenanceTask(name)
                break
        if task is MaintenanceTask.CHANGE_PASSWORD and options.positional:
            task_argument = Secret(options.positional[0])
    password = options.flags.get("password")
    profile = options.flags.get("profile")
    return CommandLine(
        action=action,
        profile=profile if isinstance(profile, str) else "",
        password=Secret(password) if isinstance(password, str) and password else None,
        force=options.flags.get("force") is True,
        task=task,
        task_argument=task_argument,
    )


@dataclass
class _ParsedOptions:
    flags: dict[str, str | bool] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)


# upstream CommandParser: string ['text', 'password'], boolean [force, synctime, syncip,
# changepassword, synchostname], alias t→text p→password f→force. `syncdeviceinfo` is not declared
# boolean there, so it would swallow a following bare word; rpc-go never sends one after it.
_BOOLEAN_OPTIONS: Final = frozenset({"force", "synctime", "syncip", "changepassword", "synchostname"})
_STRING_OPTIONS: Final = frozenset({"text", "password"})
_ALIASES: Final = {"t": "text", "p": "password", "f": "force", "e": "encrypted"}


def _minimist(words: list[str]) -> _ParsedOptions:
    """The subset of minimist's rules rpc-go's command lines exercise."""
    parsed = _ParsedOptions()
    index = 0

    def takes_value(name: str) -> bool:
        return name not in _BOOLEAN_OPTIONS

    def next_value() -> str | None:
        if index + 1 < len(words) and not words[index + 1].startswith("-"):
            return words[index + 1]
        return None

    while index < len(words):
        word = words[index]
        if word.startswith("--") and len(word) > 2:
            name, has_equals, inline_value = word[2:].partition("=")
            name = _ALIASES.get(name, name)
            if has_equals:
                parsed.flags[name] = inline_value
            elif takes_value(name) and (value := next_value()) is not None:
                parsed.flags[name] = value
                index += 1
            else:
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
        elif word.startswith("-") and len(word) > 1 and word != "--":
            letters = word[1:]
            # `-password X` is read as the short flags p,a,s,s,w,o,r,d: `p` (password) becomes
            # "" and `d` takes X. That is why maintenance never carries its password here.
            for letter in letters[:-1]:
                name = _ALIASES.get(letter, letter)
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
            name = _ALIASES.get(letters[-1], letters[-1])
            if takes_value(name) and (value := next_value()) is not None:
                parsed.flags[name] = value
                index += 1
            else:
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
        else:
            parsed.positional.append(word)
        index += 1
    return parsed


def _validate_device_payload(raw: dict[str, Any], command: CommandLine, *, client_id: str) -> DevicePayload:
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
    shown = "undefined" if value is None else _js_text(value)
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


# ---------------------------------------------------------------------------------------------
# Checks the plan resolver makes once it has the profile (§2.6.4 steps 5-8)
# ---------------------------------------------------------------------------------------------


class ActivationStart(Enum):
    """Where an activation starts, decided from `currentMode` and the profile (§2.6.4 step 6)."""

    FROM_PRE_PROVISIONING = "pre-provisioning"
    RECONFIGURE_CCM = "already enabled in client mode."
    UPGRADE_TO_ACM = "Upgraded to admin control mode."
    RECONFIGURE_ACM = "already enabled in admin mode."

    @property
    def preset_status(self) -> str | None:
        return None if self is ActivationStart.FROM_PRE_PROVISIONING else self.value


def profile_not_found_text(request: DeviceRequest) -> str:
    return (
        f"Device {request.device_guid} activation failed. {request.command.profile} "
        "does not match list of available AMT profiles."
    )


def password_mismatch_text(device_guid: str) -> str:
    """Also the text when no secret is stored (§2.6.5 step 4)."""
    return f"AMT password DOES NOT match stored version for Device {device_guid}"


def check_activation_mode(request: DeviceRequest, profile_activation: ProfileActivation) -> ActivationStart:
    """§2.6.4 step 6. Raises `ProtocolError` for a CCM profile on an ACM device."""
    guid = request.device_guid
    mode = request.payload.current_mode
    if mode is ControlMode.PRE_PROVISIONING:
        return ActivationStart.FROM_PRE_PROVISIONING
    if mode is ControlMode.CLIENT:
        if profile_activation is ProfileActivation.ACM:
            return ActivationStart.UPGRADE_TO_ACM
        return ActivationStart.RECONFIGURE_CCM
    if profile_activation is not ProfileActivation.ACM:
        raise ProtocolError(f"Device {guid} already enabled in admin control mode.")
    return ActivationStart.RECONFIGURE_ACM


def runs_acm_checks(request: DeviceRequest, profile_activation: ProfileActivation) -> bool:
    """§2.6.4 step 5: an ACM profile on AMT 19+ is validated as CCM (it activates through TLS)."""
    version = request.payload.amt_version
    return profile_activation is ProfileActivation.ACM and not (version is not None and version >= 19)


def check_acm_prerequisites(request: DeviceRequest) -> None:
    """§2.6.4 step 8, the part that needs no database. The domain lookup follows, with
    `domain_suffix_candidates` and `domain_suffix_mismatch_text`."""
    payload = request.payload
    if payload.cert_hashes is None:
        raise ProtocolError(f"Device {payload.uuid} activation failed. Missing certificate hashes from the device.")
    if not payload.fqdn and payload.current_mode is not ControlMode.ADMIN:
        raise ProtocolError(f"Device {payload.uuid} activation failed. Missing DNS Suffix.")


def domain_suffix_mismatch_text(request: DeviceRequest) -> str:
    return (
        f"Device {request.device_guid} activation failed. Specified AMT domain suffix: "
        f"{request.payload.fqdn} does not match list of available AMT domain suffixes."
    )


def domain_suffix_candidates(fqdn: str) -> list[str]:
    """Every suffix of at least two labels, longest first: a.b.corp.com → a.b.corp.com,
    b.corp.com, corp.com (upstream DomainCredentialManager)."""
    labels = fqdn.strip(".").split(".")
    return [".".join(labels[start:]) for start in range(len(labels) - 1) if all(labels[start:])]


# ---------------------------------------------------------------------------------------------
# Outbound messages
# ---------------------------------------------------------------------------------------------


def _server_message(*, method: str, status: str, message: str, payload: str | None) -> str:
    # Key order as upstream sends it (not significant to rpc-go, but diffable against captures).
    # orjson writes compact, non-ASCII-preserving JSON, as json.dumps(ensure_ascii=False,
    # separators=(",", ":")) does, at a fraction of the cost on the per-frame path.
    return orjson.dumps(
        {
            "method": method,
            "apiKey": SERVER_API_KEY,
            "appVersion": SERVER_APP_VERSION,
            "protocolVersion": SERVER_PROTOCOL_VERSION,
            "status": status,
            "message": message,
            "payload": payload,
            "tenantId": "",
        }
    ).decode("utf-8")


def wsman_message(http_request: bytes) -> str:
    """§3.1: one raw HTTP request for AMT, base64-encoded."""
    return _server_message(
        method="wsman", status="ok", message="", payload=base64.b64encode(http_request).decode("ascii")
    )


def tls_data_message(records: bytes) -> str:
    return _server_message(
        method="tls_data", status="ok", message="", payload=base64.b64encode(records).decode("ascii")
    )


def port_switch_message(*, port: int, delay_seconds: int) -> str:
    """§5.3: the payload is a plain JSON string (not base64) and `port` is a string."""
    payload = json.dumps({"port": str(port), "delay": delay_seconds}, separators=(",", ":"))
    return _server_message(method="port_switch", status="ok", message="", payload=payload)


def progress_message(text: str) -> str:
    """§2.8: send only when `DeviceRequest.accepts_progress`."""
    return _server_message(method="progress", status="ok", message=text, payload=None)


def heartbeat_request() -> str:
    """§1.4: upstream never sends it; rpc-go echoes it back as `heartbeat_response`."""
    return _server_message(method="heartbeat_request", status="ok", message="", payload="")


def validation_error_message(error: ProtocolError) -> str:
    """§2.6: a refused request; `message` is plain text, not JSON."""
    return _server_message(method="error", status="failed", message=error.client_text, payload=None)


class ComponentResult(StrEnum):
    SUCCESS = "Success"
    FAILURE = "Failure"
    NOT_APPLICABLE = "NotApplicable"


class ComponentMode(StrEnum):
    ACM = "ACM"
    CCM = "CCM"
    LOCAL_PROFILE_SYNC = "LocalProfileSync"


@dataclass(frozen=True)
class ComponentStatus:
    result: ComponentResult
    details: str
    mode: ComponentMode | None = None

    def as_json(self) -> dict[str, str]:
        document = {"Result": self.result.value}
        if self.mode is not None:
            document["Mode"] = self.mode.value
        document["Details"] = self.details
        return document


class Component(StrEnum):
    """The `Components` keys of §2.7, in upstream's order, with their "not part of" names."""

    ACTIVATION = "Activation"
    WIRED_NETWORK = "WiredNetwork"
    WIRELESS_NETWORK = "WirelessNetwork"
    TLS = "TLS"
    CIRA_PROXY = "CIRAProxy"
    CIRA_CONNECTION = "CIRAConnection"

    @property
    def readable_name(self) -> str:
        return {
            Component.ACTIVATION: "Activation",
            Component.WIRED_NETWORK: "Wired network",
            Component.WIRELESS_NETWORK: "Wireless network",
            Component.TLS: "TLS",
            Component.CIRA_PROXY: "CIRA proxy",
            Component.CIRA_CONNECTION: "CIRA connection",
        }[self]


def not_applicable(component: Component) -> ComponentStatus:
    return ComponentStatus(ComponentResult.NOT_APPLICABLE, f"{component.readable_name} not part of this configuration")


@dataclass
class ActivationStatus:
    """The status object of §2.7, JSON-encoded into `message`. Key order (correction 10):
    Status, Components, Network, then the optional CIRAConnection and TLSConfiguration."""

    status: str
    components: dict[Component, ComponentStatus] = field(
        default_factory=lambda: {component: not_applicable(component) for component in Component}
    )
    network: str | None = None
    cira_connection: str | None = None
    tls_configuration: str | None = None

    @property
    def any_component_failed(self) -> bool:
        return any(c.result is ComponentResult.FAILURE for c in self.components.values())

    def as_json(self) -> str:
        document: dict[str, Any] = {
            "Status": self.status,
            "Components": {component.value: self.components[component].as_json() for component in Component},
        }
        if self.network is not None:
            document["Network"] = self.network
        if self.cira_connection is not None:
            document["CIRAConnection"] = self.cira_connection
        if self.tls_configuration is not None:
            document["TLSConfiguration"] = self.tls_configuration
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class PlainStatus:
    """Deactivation and maintenance report only `{"Status": "..."}` (§2.7)."""

    status: str

    def as_json(self) -> str:
        return json.dumps({"Status": self.status}, ensure_ascii=False, separators=(",", ":"))


def success_message(status: ActivationStatus | PlainStatus) -> str:
    return _server_message(method="success", status="success", message=status.as_json(), payload=None)


def error_message(status: ActivationStatus | PlainStatus) -> str:
    """A flow that ended in failure: `message` is the status JSON, rpc-go reports its Status."""
    return _server_message(method="error", status="failed", message=status.as_json(), payload=None)


# ---------------------------------------------------------------------------------------------
# JavaScript number reading, where upstream's texts and checks depend on it
# ---------------------------------------------------------------------------------------------

_JS_FLOAT_PREFIX: Final = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_JS_INT_PREFIX: Final = re.compile(r"^\s*[+-]?\d+")


def js_parse_float(text: str) -> float | None:
    """JavaScript `parseFloat`: the longest numeric prefix; None where JS gives NaN."""
    match = _JS_FLOAT_PREFIX.match(text)
    return float(match.group(0)) if match else None


def js_parse_int(text: str) -> int | None:
    match = _JS_INT_PREFIX.match(text)
    return int(match.group(0)) if match else None


def _js_truthy(value: object) -> bool:
    return value not in (None, False, 0, "")


def _js_text(value: object) -> str:
    """How a template literal would show a payload value in an error text."""
    if value is None:
        return "undefined"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return ",".join(_js_text(item) for item in value)
    return "[object Object]"
