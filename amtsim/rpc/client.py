"""An rpc-go-compatible client: one command per WebSocket connection, RPS drives, we relay.

Plain mode (§3.4): every ``wsman`` message is written to a fresh TCP connection to the
device's 16992; the answer is read until EOF or 100 ms of silence after the first byte; if
nothing arrives within 3 s nothing is sent back. TLS-tunnel mode (§5): ``tls_data`` bytes are
relayed as-is over one persistent connection to 16993; a ClientHello opens a new one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from amtsim.device import DeviceEndpoint
from amtsim.rpc.commands import RpcCommand, parse_command_line
from amtsim.rpc.heci import EndpointHeci, HeciReport, HeciSource

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = "4.0.0"
APP_VERSION = "v2.52.4"
FIRST_BYTE_TIMEOUT = 3.0
IDLE_GAP = 0.1
TUNNEL_FIRST_BYTE_TIMEOUT = 2.0
LMS_DIAL_TIMEOUT = 5.0
AMT_PLAIN_PORT = 16992
AMT_TLS_PORT = 16993


class RpcClientError(Exception):
    """rpc-go would stop here with this message."""


@dataclass
class RpcResult:
    """How the run ended. ``exit_code`` is 0 on ``success``, 1 on ``error``, 2 if the client failed."""

    exit_code: int
    outcome: str | None  # "success", "error", or None when no terminal message arrived
    message: str = ""  # the terminal message's raw ``message`` text
    status: dict[str, Any] | None = None  # ``message`` parsed as JSON, when it is JSON
    error: str | None = None  # what rpc-go prints on failure
    progress: list[str] = field(default_factory=list)
    relayed_wsman: int = 0  # answers relayed back, plain and through the TLS tunnel
    tunnel_rounds: int = 0  # of which through the TLS tunnel
    silent_rounds: int = 0
    heartbeats: int = 0
    payload: dict[str, Any] = field(default_factory=dict)  # the device payload that was sent
    elapsed_seconds: float = 0.0

    @property
    def status_text(self) -> str | None:
        if self.status is not None and isinstance(self.status.get("Status"), str):
            return self.status["Status"]
        return self.message or None


def build_device_payload(command: RpcCommand, heci: HeciReport) -> dict[str, Any]:
    """The first message's payload, key for key as rpc-go builds it (§2.4)."""
    if heci.control_mode == 0 and command.action == "activate":
        username = heci.local_system_username or "$$OsAdmin"
        password = heci.local_system_password or ""
    else:
        # rpc-go 2.x still names the LSA account here; servers use admin (§ corrections 19).
        username = heci.local_system_username or "$$OsAdmin"
        password = command.password
        if not password:
            raise RpcClientError("missing or incorrect password: -password is required for an activated device")
    fqdn = (command.dns if command.dns is not None else heci.dns_suffix).strip().rstrip(".")
    payload: dict[str, Any] = {
        "ver": heci.amt_version,
        "build": heci.build,
        "sku": heci.sku,
        "features": heci.features,
        "uuid": (command.uuid or heci.uuid).lower(),
        "username": username,
        "password": password,
        "currentMode": heci.control_mode,
        "hostname": command.hostname if command.hostname is not None else heci.hostname,
        "fqdn": fqdn,
        "client": "RPC",
        "certHashes": [value.lower() for value in heci.trusted_root_hashes] or None,
        "ipConfiguration": {
            "dhcp": False,
            "static": False,
            "ipsync": False,
            "ipAddress": "",
            "netmask": "",
            "gateway": "",
            "primaryDns": "",
            "secondaryDns": "",
        },
        "hostnameInfo": {"dnsSuffixOS": "", "hostname": ""},
    }
    if command.task == "syncip":
        payload["ipConfiguration"].update(
            {
                "static": bool(command.static_ip),
                "dhcp": not command.static_ip,
                "ipAddress": command.static_ip,
                "netmask": command.netmask,
                "gateway": command.gateway,
                "primaryDns": command.primary_dns,
                "secondaryDns": command.secondary_dns,
            }
        )
    if command.task == "synchostname":
        payload["hostnameInfo"] = {"dnsSuffixOS": heci.dns_suffix, "hostname": command.hostname or heci.hostname}
    if command.friendly_name:
        payload["friendlyName"] = command.friendly_name
    if heci.tls_enforced:
        payload["tlsEnforced"] = True
    if command.tls_tunnel:
        payload["tlsTunnel"] = True
    if not command.no_progress:
        payload["progressSupported"] = True
    return payload


def client_message(method: str, payload: str, *, tenant_id: str = "") -> str:
    return json.dumps(
        {
            "method": method,
            "apiKey": "key",
            "appVersion": APP_VERSION,
            "protocolVersion": PROTOCOL_VERSION,
            "status": "ok",
            "message": "ok",
            "fqdn": "",
            "payload": payload,
            "tenantId": tenant_id,
        }
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _is_client_hello(data: bytes) -> bool:
    return len(data) > 5 and data[0] == 0x16 and data[5] == 0x01


async def _read_round(reader: asyncio.StreamReader, first_byte_timeout: float) -> tuple[bytes, bool]:
    """Bytes of one answer and whether the peer closed: first byte, then until a 100 ms gap."""
    received = bytearray()
    try:
        chunk = await asyncio.wait_for(reader.read(65536), first_byte_timeout)
    except TimeoutError:
        return b"", False
    if not chunk:
        return b"", True
    received += chunk
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), IDLE_GAP)
        except TimeoutError:
            return bytes(received), False
        if not chunk:
            return bytes(received), True
        received += chunk


@dataclass
class DeviceLink:
    """How the client reaches the device's local ports (LMS on 127.0.0.1)."""

    host: str
    plain_port: int
    tls_port: int | None

    @classmethod
    def for_endpoint(cls, endpoint: DeviceEndpoint) -> DeviceLink:
        return cls(host=endpoint.host, plain_port=endpoint.http_port, tls_port=endpoint.tls_port)

    def port_for(self, amt_port: int) -> int:
        if amt_port == AMT_TLS_PORT:
            if self.tls_port is None:
                raise RpcClientError("LME/LMS error: the device has no TLS port")
            return self.tls_port
        return self.plain_port


@dataclass
class RpcSession:
    command: RpcCommand
    heci: HeciSource
    link: DeviceLink
    ssl_context: ssl.SSLContext | None = None
    first_byte_timeout: float = FIRST_BYTE_TIMEOUT
    port_switch_max_delay: float = 60.0
    tunnel_first_byte_timeout: float = TUNNEL_FIRST_BYTE_TIMEOUT
    tunnel_port: int | None = None  # set once the relay is in TLS-tunnel mode
    _tunnel: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    result: RpcResult = field(default_factory=lambda: RpcResult(exit_code=2, outcome=None))

    async def run(self) -> RpcResult:
        started = time.monotonic()
        try:
            heci = await self.heci.read()
            payload = build_device_payload(self.command, heci)
            self.result.payload = payload
            if heci.tls_enforced:
                self.tunnel_port = self.link.port_for(AMT_TLS_PORT)
            async with connect(
                self.command.url,
                ssl=self.ssl_context,
                open_timeout=60,
                ping_interval=None,  # rpc-go sends no pings (§1.4); it answers the server's
                compression=None,
                max_size=None,
            ) as websocket:
                first = client_message(
                    self.command.method_string(),
                    _b64(json.dumps(payload).encode()),
                    tenant_id=self.command.tenant_id,
                )
                await websocket.send(first)
                await self._message_loop(websocket)
        except RpcClientError as error:
            self.result.error = str(error)
            self.result.exit_code = 2
        except (OSError, ConnectionClosed, TimeoutError, InvalidHandshake) as error:
            self.result.error = f"connection failed: {error}"
            self.result.exit_code = 2
        finally:
            await self._close_tunnel()
            self.result.elapsed_seconds = time.monotonic() - started
        return self.result

    async def _message_loop(self, websocket: ClientConnection) -> None:
        while True:
            try:
                raw = await websocket.recv()
            except ConnectionClosed:
                self.result.error = "rps connection closed unexpectedly"
                self.result.exit_code = 2
                return
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                logger.warning("ignoring a message that is not JSON")
                continue
            method = message.get("method")
            if method in ("success", "error"):
                self._finish(method, message.get("message") or "")
                return
            if method == "wsman":
                await self._relay_plain(websocket, message.get("payload") or "")
            elif method == "tls_data":
                await self._relay_tunnel(websocket, message.get("payload") or "")
            elif method == "port_switch":
                await self._port_switch(websocket, message.get("payload") or "")
            elif method == "heartbeat_request":
                self.result.heartbeats += 1
                echo = dict(message, method="heartbeat_response", status="success")
                await websocket.send(json.dumps(echo))
            elif method == "progress":
                self.result.progress.append(str(message.get("message", "")))
            else:
                logger.warning("ignoring unsupported method %r", method)

    def _finish(self, method: str, text: str) -> None:
        self.result.outcome = method
        self.result.message = text
        try:
            parsed = json.loads(text)
            self.result.status = parsed if isinstance(parsed, dict) else None
        except ValueError:
            self.result.status = None
        if method == "success":
            self.result.exit_code = 0
        else:
            self.result.exit_code = 1
            self.result.error = f"rps returned error: {self.result.status_text}"

    async def _relay_plain(self, websocket: ClientConnection, payload: str) -> None:
        if self.tunnel_port is not None:
            # rpc-go in tunnel mode relays everything through the tunnel.
            await self._relay_tunnel(websocket, payload)
            return
        request = base64.b64decode(payload)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.link.host, self.link.plain_port), LMS_DIAL_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            raise RpcClientError(f"LME/LMS error: {error}") from error
        try:
            writer.write(request)
            await writer.drain()
            answer, _closed = await _read_round(reader, self.first_byte_timeout)
        except ConnectionError as error:
            raise RpcClientError(f"LME/LMS error: {error}") from error
        finally:
            writer.close()
        if not answer:
            # AMT said nothing in time (or closed silently): rpc-go sends nothing back.
            self.result.silent_rounds += 1
            return
        self.result.relayed_wsman += 1
        await websocket.send(client_message("response", _b64(answer)))

    async def _open_tunnel(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.tunnel_port is not None
        self._tunnel = await asyncio.wait_for(
            asyncio.open_connection(self.link.host, self.tunnel_port), LMS_DIAL_TIMEOUT
        )
        return self._tunnel

    async def _close_tunnel(self) -> None:
        if self._tunnel is not None:
            self._tunnel[1].close()
            self._tunnel = None

    async def _relay_tunnel(self, websocket: ClientConnection, payload: str) -> None:
        data = base64.b64decode(payload)
        if self.tunnel_port is None:
            self.tunnel_port = self.link.port_for(AMT_TLS_PORT)
        if self._tunnel is not None and _is_client_hello(data):
            # A new handshake means a new session: reopen the local connection (§5.2).
            await self._close_tunnel()
        try:
            reader, writer = self._tunnel or await self._open_tunnel()
            writer.write(data)
            await writer.drain()
            answer, closed = await _read_round(reader, self.tunnel_first_byte_timeout)
        except (OSError, TimeoutError):
            await self._close_tunnel()
            await websocket.send(client_message("connection_reset", _b64(b"lms_error")))
            return
        if answer:
            self.result.relayed_wsman += 1
            self.result.tunnel_rounds += 1
            await websocket.send(client_message("tls_data", _b64(answer)))
        if closed:
            await self._close_tunnel()
            if not answer:
                await websocket.send(client_message("connection_reset", _b64(b"connection_closed")))
        elif not answer:
            self.result.silent_rounds += 1

    async def _port_switch(self, websocket: ClientConnection, payload: str) -> None:
        try:
            request = json.loads(payload)
            amt_port = int(request.get("port", AMT_TLS_PORT))
            delay = float(request.get("delay", 0))
        except (ValueError, TypeError, AttributeError) as error:
            raise RpcClientError(f"invalid port_switch payload: {payload!r}") from error
        await self._close_tunnel()
        await asyncio.sleep(min(max(delay, 0.0), self.port_switch_max_delay))
        self.tunnel_port = self.link.port_for(amt_port)
        for _attempt in range(10):
            with contextlib.suppress(OSError, TimeoutError):
                await self._open_tunnel()
                break
            await asyncio.sleep(0.5)
        else:
            raise RpcClientError(f"LME/LMS error: cannot reconnect to port {amt_port}")
        await websocket.send(client_message("port_switch_ack", _b64(b"ok")))


def websocket_ssl_context(command: RpcCommand) -> ssl.SSLContext | None:
    if not command.url.startswith("wss://"):
        return None
    context = ssl.create_default_context(cafile=command.ca_file)
    if command.skip_cert_check:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def run_rpc(
    argv: list[str],
    *,
    device_endpoint: DeviceEndpoint | None = None,
    heci: HeciSource | None = None,
    link: DeviceLink | None = None,
    first_byte_timeout: float = FIRST_BYTE_TIMEOUT,
    tunnel_first_byte_timeout: float = TUNNEL_FIRST_BYTE_TIMEOUT,
    port_switch_max_delay: float = 60.0,
) -> RpcResult:
    """Run one rpc-go command line against a device. Never raises for protocol outcomes.

    ``device_endpoint`` (from ``serve_device``) supplies both the HECI facts and the ports;
    across processes pass ``heci=HttpHeci(...)`` and ``link=DeviceLink(...)`` instead.
    """
    try:
        command = parse_command_line(argv)
    except ValueError as error:
        return RpcResult(exit_code=2, outcome=None, error=str(error))
    if device_endpoint is not None:
        heci = heci or EndpointHeci(device_endpoint)
        link = link or DeviceLink.for_endpoint(device_endpoint)
    if heci is None or link is None:
        raise ValueError("run_rpc needs device_endpoint, or both heci and link")
    session = RpcSession(
        command=command,
        heci=heci,
        link=link,
        ssl_context=websocket_ssl_context(command),
        first_byte_timeout=first_byte_timeout,
        tunnel_first_byte_timeout=tunnel_first_byte_timeout,
        port_switch_max_delay=port_switch_max_delay,
    )
    return await session.run()
