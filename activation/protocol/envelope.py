"""One inbound text frame to a typed message (protocol.md §2.1-2.2, §2.5, §2.6.1).

`parse_client_message` reads the envelope, relays `response`/`tls_data`/... as they are and turns
the first message of a connection into a `DeviceRequest`: the command line of §2.3
(`command_line`) and the device payload of §2.4 (`payload`), checked in upstream RPS v2.40's
order with its exact texts. Every refusal is a `ProtocolError`."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import orjson

from activation.protocol.command_line import parse_command_line
from activation.protocol.javascript import js_parse_int, js_text, js_truthy
from activation.protocol.messages import (
    RELAY_METHODS,
    ClientMessage,
    ClientMethod,
    ConnectionReset,
    DeviceRequest,
    DeviceResponse,
    HeartbeatResponse,
    PortSwitchAck,
    ProtocolError,
    TlsData,
)
from activation.protocol.payload import validate_device_payload


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
        raise ProtocolError(f"Device {js_text(uuid_text)} Not a supported method received from AMT device")
    if payload_json is None:
        # An action without payload: upstream dereferences `payload.uuid` of nothing.
        raise ProtocolError(f"{client_id} - Missing uuid from payload")
    tenant_id = envelope.get("tenantId", "")
    app_version = envelope.get("appVersion", "")
    if tenant_id is None:
        tenant_id = ""
    if not isinstance(tenant_id, str) or not isinstance(app_version, str):
        raise ProtocolError("Error: Invalid payload from client")
    payload = validate_device_payload(payload_json, command, client_id=client_id)
    return DeviceRequest(command=command, payload=payload, tenant_id=tenant_id, client_app_version=app_version)


def _load_envelope(text: str) -> dict[str, Any]:
    # orjson (every frame passes here): strict RFC 8259 like JavaScript's JSON.parse, so no
    # NaN/Infinity, and a nesting limit instead of a RecursionError.
    try:
        envelope = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ProtocolError(f"SyntaxError: {json_error_text(error)}") from None
    if not isinstance(envelope, dict):
        raise ProtocolError("SyntaxError: the message is not a JSON object")
    return envelope


def _refuse_json_constant(name: str) -> None:
    # JavaScript's JSON.parse has no NaN/Infinity; Python's json would accept them.
    raise ValueError(f"Unexpected token {name[0]} in JSON")


def json_error_text(error: BaseException) -> str:
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
        raise ProtocolError(f"Error: Failed to parse client message payload. {json_error_text(error)}") from None
    if not isinstance(payload, dict) or not all(
        js_truthy(payload.get(key)) for key in ("client", "ver", "build", "uuid")
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
    if not js_truthy(version):
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
