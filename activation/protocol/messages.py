"""What a client sends (protocol.md §2.1-2.5) as typed messages, and the one refusal type.

`ProtocolError.client_text` is what the client is sent, as plain text, in an `error` message
(`server_messages.validation_error_message`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from activation.protocol.javascript import js_parse_float
from devices.models import ControlMode
from rps_site.sensitive import Secret


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
