"""TLS-tunnel mode (protocol.md §5): the server is AMT's TLS client, rpc-go relays the records.

`TlsTunnelTransport` is a `DeviceTransport`: `AmtSession` hands it the same HTTP request as on the
plain path (Host `<guid>:16993`, no `Connection: close` while the tunnel is persistent), and it
carries the request through an `ssl.SSLObject` over two `MemoryBIO`s whose network side is the
WebSocket: every batch of bytes the TLS engine produces is one `tls_data` message; every
`tls_data` from the client is fed back in (§5.2).

- Before the new session's first handshake record arrives, inbound application-data records
  (type 0x17) are dropped: they are stale bytes of an earlier session. (Dropping them after the
  ServerHello would break TLS 1.3, whose encrypted handshake records are also type 0x17.)
- The device's certificate chain is checked after the handshake and before any request is
  written (§5.4, `activation/odca.py`); OpenSSL's own verification is off.
- A response is complete when its chunked body has the terminating chunk, or `Content-Length`
  bytes followed the header (§5.2).
- The session is rebuilt (a new ClientHello, on which rpc-go reopens its local connection) after
  a response with `Connection: close` (AMT's 401s), a `connection_reset`, a TLS error, a timeout
  and whenever a flow asks for it (after CommitChanges on AMT 19+). A `connection_reset` or TLS
  failure raises `DeviceConnectionReset`, which `AmtSession` retries after `delay_tls_timer`
  with a fresh handshake (§5.3); an untrusted chain raises `UntrustedDeviceCertificate`, never
  retried.

Python 3.11 has no public way to read the peer's whole chain: `SSLObject.get_unverified_chain()`
is public from 3.13 and exists privately (`_sslobj`) since 3.10; without it only the leaf can be
checked, which then must be signed by a trusted root directly.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from activation.odca import UntrustedDeviceCertificate, configured_trust_anchors, verify_device_chain
from activation.protocol.messages import ConnectionReset, DeviceRequest, DeviceResponse, PortSwitchAck, TlsData
from activation.protocol.server_messages import port_switch_message, tls_data_message
from activation.session import AMT_TLS_PORT
from activation.session_errors import DeviceConnectionReset
from devices.models import ControlMode

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
ChainCheck = Callable[[list[bytes]], object]

RECORD_HEADER_LENGTH: Final = 5
HANDSHAKE_RECORD: Final = 0x16
APPLICATION_DATA_RECORD: Final = 0x17
READ_SIZE: Final = 64 * 1024
PORT_SWITCH_ACK_GRACE: Final = 60.0  # RPS waits `delay + 60` s for the ack (§5.3)
PORT_SWITCH_FAILED: Final = "Failed to complete port switch to TLS"


class PortSwitchFailed(Exception):
    failure_text = PORT_SWITCH_FAILED


def verify_odca_chain(chain_der: list[bytes]) -> object:
    """§5.4, pre-provisioning: the factory RCFG chain must end at a trusted ODCA root."""
    return verify_device_chain(chain_der, configured_trust_anchors())


def tunnel_client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the chain is checked by `ChainCheck` after the handshake
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def http_response_complete(buffer: bytes | bytearray) -> bool:
    """§5.2: chunked with the terminating chunk received, or `Content-Length` bytes received."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    headers = _header_values(bytes(buffer[:head_end]))
    body = buffer[head_end + 4 :]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked_body_complete(body)
    if "content-length" in headers:
        try:
            return len(body) >= int(headers["content-length"])
        except ValueError:
            return True  # let the HTTP parser report it
    return False  # delimited by the end of the connection


def _header_values(head: bytes) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        values[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return values


def _chunked_body_complete(body: bytes | bytearray) -> bool:
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return False
        try:
            size = int(bytes(body[position:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            return True  # malformed: the HTTP parser says so, rather than waiting for the timeout
        if size == 0:
            return body.find(b"\r\n\r\n", line_end) >= 0
        position = line_end + 2 + size + 2
        if position > len(body):
            return False


def _wants_close(http_message: bytes | bytearray) -> bool:
    head_end = http_message.find(b"\r\n\r\n")
    head = bytes(http_message[: head_end if head_end >= 0 else len(http_message)])
    return "close" in _header_values(head).get("connection", "").lower()


@dataclass
class _TlsSession:
    """One TLS session through the tunnel."""

    engine: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO
    handshake_seen: bool = False  # the first handshake record of this session has arrived
    pending: bytearray = field(default_factory=bytearray)  # partial record before that
    dropped_records: int = 0

    def feed(self, data: bytes) -> None:
        if self.handshake_seen:
            self.incoming.write(data)
            return
        self.pending += data
        while len(self.pending) >= RECORD_HEADER_LENGTH:
            record_length = RECORD_HEADER_LENGTH + int.from_bytes(self.pending[3:5], "big")
            if self.pending[0] != APPLICATION_DATA_RECORD:
                self.handshake_seen = True
                self.incoming.write(bytes(self.pending))
                self.pending.clear()
                return
            if len(self.pending) < record_length:
                return
            del self.pending[:record_length]  # stale application data of an earlier session
            self.dropped_records += 1

    def peer_chain(self) -> list[bytes]:
        chain_reader = getattr(self.engine, "get_unverified_chain", None)  # public from 3.13
        if chain_reader is None:
            chain_reader = getattr(getattr(self.engine, "_sslobj", None), "get_unverified_chain", None)
        if chain_reader is not None:
            chain = chain_reader() or []
            return [_der_of(certificate) for certificate in chain]
        leaf = self.engine.getpeercert(binary_form=True)
        return [leaf] if leaf else []


def _der_of(certificate: Any) -> bytes:
    if isinstance(certificate, bytes):
        return certificate
    return bytes(certificate.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]


class TlsTunnelTransport:
    """`DeviceTransport` through the TLS tunnel; `deliver` takes what the client sends back."""

    def __init__(
        self,
        send: Send,
        *,
        verify_chain: ChainCheck | None,
        context_factory: Callable[[], ssl.SSLContext] = tunnel_client_context,
    ) -> None:
        self._send = send
        self._verify_chain = verify_chain
        self._context_factory = context_factory
        self._events: asyncio.Queue[TlsData | ConnectionReset] = asyncio.Queue()
        self._tls: _TlsSession | None = None
        self._port_switch_ack: asyncio.Event | None = None
        self.sessions_opened = 0
        self.dropped_records = 0
        self.frames_received = 0  # everything the client sent (see `DeviceTransport`)
        self.presented_leaf: bytes | None = None  # the leaf of the last session's chain (DER)

    @classmethod
    def for_request(cls, request: DeviceRequest, send: Send) -> TlsTunnelTransport:
        """§5.4: a device in pre-provisioning must present an ODCA chain; an activated device
        is not verified (the admin digest password is the trust boundary)."""
        verify = verify_odca_chain if request.payload.current_mode is ControlMode.PRE_PROVISIONING else None
        return cls(send, verify_chain=verify)

    # -- what the consumer and the flows call ----------------------------------------------------

    def deliver(self, message: TlsData | ConnectionReset | PortSwitchAck | DeviceResponse) -> None:
        self.frames_received += 1
        if isinstance(message, PortSwitchAck):
            if self._port_switch_ack is not None:
                self._port_switch_ack.set()
            else:
                logger.warning("dropped a port_switch_ack that no port switch was waiting for")
            return
        if isinstance(message, DeviceResponse):
            logger.warning("dropped a plain response on a TLS-tunnel connection")
            return
        self._events.put_nowait(message)

    def rebuild(self) -> None:
        """The next call starts a new TLS session (e.g. after CommitChanges on AMT 19+)."""
        self._tls = None

    def trust(self, verify_chain: ChainCheck | None) -> None:
        """Replace the chain check for the sessions opened from now on."""
        self._verify_chain = verify_chain

    def pin_leaf(self, leaf_der: bytes) -> None:
        """Sessions opened from now on must present exactly this leaf (the one RPS installed)."""

        def presents_pinned_leaf(chain_der: list[bytes]) -> None:
            if not chain_der or chain_der[0] != leaf_der:
                raise UntrustedDeviceCertificate("the device does not present the TLS certificate RPS installed")

        self.trust(presents_pinned_leaf)

    async def switch_port(self, *, delay_seconds: int, port: int = AMT_TLS_PORT) -> None:
        """§5.3 `port_switch`: rpc-go reconnects to `port` after `delay_seconds`, then acks."""
        self._port_switch_ack = asyncio.Event()
        try:
            await self._send(port_switch_message(port=port, delay_seconds=delay_seconds))
            await asyncio.wait_for(self._port_switch_ack.wait(), delay_seconds + PORT_SWITCH_ACK_GRACE)
        except TimeoutError:
            raise PortSwitchFailed(PORT_SWITCH_FAILED) from None
        finally:
            self._port_switch_ack = None
        self.rebuild()

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        self._absorb_idle_events()
        try:
            async with asyncio.timeout(timeout):
                tls = self._tls if self._tls is not None else await self._open()
                try:
                    tls.engine.write(http_request)
                except ssl.SSLError:
                    self._tls = None
                    raise DeviceConnectionReset("TLS session unusable") from None
                await self._flush(tls)
                response = await self._read_response(tls)
        except TimeoutError:
            self._tls = None  # a late answer must not be read as the next call's
            raise
        if _wants_close(response) or _wants_close(http_request):
            self._tls = None
        return response

    # -- internals -----------------------------------------------------------------------------

    def _absorb_idle_events(self) -> None:
        """Records that arrived between calls (e.g. TLS 1.3 session tickets) belong to the open
        session; a reset between calls means the next call needs a new one."""
        while not self._events.empty():
            event = self._events.get_nowait()
            if isinstance(event, ConnectionReset):
                self._tls = None
            elif self._tls is not None:
                self._tls.feed(event.records)

    async def _open(self) -> _TlsSession:
        while not self._events.empty():
            self._events.get_nowait()
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = _TlsSession(self._context_factory().wrap_bio(incoming, outgoing, server_side=False), incoming, outgoing)
        self.sessions_opened += 1
        while True:
            try:
                tls.engine.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as error:
                raise DeviceConnectionReset(f"TLS handshake failed ({error.reason or type(error).__name__})") from None
            await self._flush(tls)
            await self._receive_into(tls)
        self.dropped_records += tls.dropped_records
        chain = tls.peer_chain()
        if self._verify_chain is not None:
            # Before a single request byte (digest answers, password hashes) is written.
            self._verify_chain(chain)
        self.presented_leaf = chain[0] if chain else None
        self._tls = tls
        logger.info("TLS tunnel open (%s)", tls.engine.version())
        return tls

    async def _flush(self, tls: _TlsSession) -> None:
        data = tls.outgoing.read()
        if data:
            await self._send(tls_data_message(data))

    async def _receive_into(self, tls: _TlsSession) -> None:
        event = await self._events.get()
        if isinstance(event, ConnectionReset):
            self._tls = None
            raise DeviceConnectionReset(event.reason)
        tls.feed(event.records)

    async def _read_response(self, tls: _TlsSession) -> bytes:
        response = bytearray()
        while True:
            closed = False
            while True:
                try:
                    data = tls.engine.read(READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    closed = True
                    break
                except ssl.SSLError as error:
                    self._tls = None
                    raise DeviceConnectionReset(f"TLS error ({error.reason or type(error).__name__})") from None
                if not data:
                    closed = True
                    break
                response += data
            await self._flush(tls)  # e.g. an answer to a key update
            if http_response_complete(response):
                return bytes(response)
            if closed:
                self._tls = None
                if response:
                    return bytes(response)  # delimited by the close; the HTTP parser judges it
                raise DeviceConnectionReset("the device closed the TLS session")
            await self._receive_into(tls)


class PlainRelay(Protocol):
    """The plain WS-Man relay (`activation.socket_relay.SocketTransport`)."""

    frames_received: int

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes: ...

    def deliver(self, message: DeviceResponse | ConnectionReset) -> None: ...


class PortSwitchingTransport:
    """`--tls-tunnel` on AMT 11-18 (§5.1, §5.5): WS-Man relayed in plain until the device has the
    TLS certificate RPS installed, then `port_switch`, and the TLS tunnel to 16993 from there on.

    The certificate RPS installs is pinned as it is installed (`pin_leaf`, called through
    `AmtSession.expect_device_certificate`): the first session after the switch must present it."""

    def __init__(self, plain: PlainRelay, tunnel: TlsTunnelTransport) -> None:
        self.plain = plain
        self.tunnel = tunnel
        self.switched = False

    @classmethod
    def for_request(cls, plain: PlainRelay, send: Send) -> PortSwitchingTransport:
        # No chain check until RPS's own certificate is installed and pinned (the device is
        # activated by then: before that, the plain relay carries everything).
        return cls(plain, TlsTunnelTransport(send, verify_chain=None))

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        if self.switched:
            return await self.tunnel.exchange(http_request, timeout=timeout)
        return await self.plain.exchange(http_request, timeout=timeout)

    def deliver(self, message: TlsData | ConnectionReset | PortSwitchAck | DeviceResponse) -> None:
        if isinstance(message, DeviceResponse) or (isinstance(message, ConnectionReset) and not self.switched):
            self.plain.deliver(message)
        else:
            self.tunnel.deliver(message)

    def pin_leaf(self, leaf_der: bytes) -> None:
        self.tunnel.pin_leaf(leaf_der)

    @property
    def frames_received(self) -> int:
        return self.plain.frames_received + self.tunnel.frames_received

    @property
    def presented_leaf(self) -> bytes | None:
        return self.tunnel.presented_leaf if self.switched else None

    async def switch_to_tls(self, *, delay_seconds: int) -> None:
        """Raises `PortSwitchFailed` when rpc-go does not acknowledge in time."""
        await self.tunnel.switch_port(delay_seconds=delay_seconds)
        self.switched = True


def session_options(transport: object) -> dict[str, Any]:
    """`AmtSession` options for a transport: port 16993 and a persistent tunnel (no
    `Connection: close`, upstream's `amt_tls_tunnel_persistent` default) through the tunnel."""
    if isinstance(transport, TlsTunnelTransport) or (
        isinstance(transport, PortSwitchingTransport) and transport.switched
    ):
        return {"port": AMT_TLS_PORT, "connection_close": False}
    return {}


# After a TLS commit AMT restarts its TLS listener. A session opened during the restart still
# meets the old certificate (or none), so even with the operator's timers at 0 RPS waits this long.
TLS_RESTART_MIN_SECONDS: Final = 2


def tls_restart_seconds() -> int:
    """delay_tls_timer (`RPS_RETRY_DELAY`), at least `TLS_RESTART_MIN_SECONDS`."""
    from django.conf import settings

    return max(TLS_RESTART_MIN_SECONDS, math.ceil(settings.RETRY_DELAY))


async def tls_restart_timer() -> None:
    """Upstream's `delay_tls_timer`: `RPS_RETRY_DELAY`, with a floor for AMT's listener restart."""
    await asyncio.sleep(tls_restart_seconds())


__all__ = [
    "PORT_SWITCH_FAILED",
    "PortSwitchFailed",
    "PortSwitchingTransport",
    "TlsTunnelTransport",
    "http_response_complete",
    "tls_restart_timer",
    "session_options",
    "tls_restart_seconds",
    "tunnel_client_context",
    "verify_odca_chain",
]
