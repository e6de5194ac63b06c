"""What the server sends (protocol.md §2.6-2.8, §1.4, §3.1, §5.3): the exact JSON rpc-go parses."""

from __future__ import annotations

import base64
import json
from typing import Final

import orjson

from activation.protocol.messages import ProtocolError
from activation.protocol.status import ActivationStatus, PlainStatus

SERVER_APP_VERSION: Final = "2.40.0"
SERVER_PROTOCOL_VERSION: Final = "4.0.0"
SERVER_API_KEY: Final = "xxxxx"


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


def success_message(status: ActivationStatus | PlainStatus) -> str:
    return _server_message(method="success", status="success", message=status.as_json(), payload=None)


def error_message(status: ActivationStatus | PlainStatus) -> str:
    """A flow that ended in failure: `message` is the status JSON, rpc-go reports its Status."""
    return _server_message(method="error", status="failed", message=status.as_json(), payload=None)
