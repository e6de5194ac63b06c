"""The device's sockets: an HTTP/1.1 listener (AMT's 16992 via LMS) and a TLS one (16993).

Answers are framed the way firmware frames them: 401s with ``Content-Length`` and
``Connection: close``; 200 and 400-fault bodies chunked (hex sizes like ``02FA``); a
connection stays open for the next request unless the request asked to close it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from amtsim.device.device import Behaviour, DeviceAnswer, HttpRequest, VirtualAmtDevice
from amtsim.pki import DeviceTlsIdentity, shared_on_die_ca

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
READ_TIMEOUT_SECONDS = 30.0
CHUNK_SIZE = 0x2FA  # firmware writes 762-byte chunks (see 200_chunked_GeneralSettings_AMT15.http)
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


class BadHttpRequest(ValueError):
    pass


async def read_http_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """One request from the stream, or None at a clean EOF between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise BadHttpRequest("connection closed inside the request head") from error
    except asyncio.LimitOverrunError as error:
        raise BadHttpRequest("request head too large") from error
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as error:
        raise BadHttpRequest(f"bad request line {lines[0]!r}") from error
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY_BYTES:
            raise BadHttpRequest("body too large")
        body = await reader.readexactly(length) if length else b""
    return HttpRequest(method=method, target=target, headers=headers, body=body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as error:
            raise BadHttpRequest(f"bad chunk size {size_line!r}") from error
        if size == 0:
            # Trailers (none expected) end with an empty line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY_BYTES:
            raise BadHttpRequest("body too large")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadHttpRequest("chunk not terminated by CRLF")


def chunk_body(body: bytes, chunk_size: int = CHUNK_SIZE) -> bytes:
    parts = [
        b"%04X\r\n%s\r\n" % (len(body[i : i + chunk_size]), body[i : i + chunk_size])
        for i in range(0, len(body), chunk_size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def encode_answer(answer: DeviceAnswer, *, amt_version: str) -> bytes:
    server = f"Intel(R) Active Management Technology {amt_version}"
    status_line = f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, 'Error')}\r\n"
    if answer.challenge is not None:
        # The 401 layout of 401_digest_challenge_AMT15.http: no Date, challenge first.
        headers = [
            f"WWW-Authenticate: {answer.challenge.header_value()}",
            f"Content-Type: {answer.content_type}",
            f"Server: {server}",
            f"Content-Length: {len(answer.body)}",
            "Connection: close",
        ]
        return (status_line + "\r\n".join(headers) + "\r\n\r\n").encode() + answer.body
    headers = [
        f"Date: {formatdate(usegmt=True)}",
        f"Server: {server}",
        "X-Frame-Options: DENY",
        f"Content-Type: {answer.content_type}",
    ]
    if answer.chunked:
        headers.append("Transfer-Encoding: chunked")
        payload = chunk_body(answer.body)
    else:
        headers.append(f"Content-Length: {len(answer.body)}")
        payload = answer.body
    if answer.close:
        # Faults announce the close; a 200 does not, AMT just closes when asked to.
        headers.append("Connection: close")
    return (status_line + "\r\n".join(headers) + "\r\n\r\n").encode() + payload


def _abort_with_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # Linger 0 turns close() into an RST, which is what "connection reset" means.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class AmtHttpService:
    """Serves one device's WS-Man over any number of connections."""

    device: VirtualAmtDevice
    serve_heci: bool = True
    connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass
        finally:
            if task is not None:
                self.connections.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await asyncio.wait_for(read_http_request(reader), READ_TIMEOUT_SECONDS)
            except BadHttpRequest:
                writer.write(BAD_REQUEST_RESPONSE)
                await writer.drain()
                return
            if request is None:
                return
            if self.serve_heci and request.method == "GET" and request.target == "/amtsim/heci":
                body = json.dumps(self.device.heci_report()).encode()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
                writer.write(head + b"Connection: close\r\n\r\n" + body)
                await writer.drain()
                return
            answer = self.device.answer(request)
            if answer.delay_seconds:
                await asyncio.sleep(answer.delay_seconds)
            if answer.behaviour is Behaviour.RESET:
                _abort_with_reset(writer)
                return
            if answer.behaviour is Behaviour.SILENT:
                # Hold the connection open and say nothing; the peer gives up first.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(), answer.hold_seconds)
                return
            writer.write(encode_answer(answer, amt_version=self.device.identity.amt_version))
            await writer.drain()
            if answer.close or request.wants_close:
                return


BAD_REQUEST_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
)


@dataclass
class DeviceEndpoint:
    """Where a served device listens. ``tls_port`` is None when the device has no TLS listener."""

    device: VirtualAmtDevice
    host: str
    http_port: int
    tls_port: int | None = None

    @property
    def heci_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/amtsim/heci"

    def port_for(self, amt_port: int) -> int:
        """Map AMT's well-known port (16992/16993) to this device's listener."""
        if amt_port == 16993:
            if self.tls_port is None:
                raise ConnectionRefusedError("device has no TLS listener")
            return self.tls_port
        return self.http_port


def _write_temp(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


@dataclass
class TlsListener:
    """AMT's 16993. A TLS-enforced device serves the factory ODCA chain in pre-provisioning and
    its temporary self-signed leaf once activated; any device serves the certificate a server
    installed once that TLS configuration is committed. It restarts on each commit and on
    Unprovision, as AMT's listener does."""

    service: AmtHttpService
    host: str
    port: int = 0
    server: asyncio.Server | None = None
    factory_identity: DeviceTlsIdentity | None = None
    leaf_der: bytes | None = None  # the leaf this listener presents (None: the listener is off)
    _restart_task: asyncio.Task[None] | None = None

    def _served_chain(self) -> tuple[bytes, bytes] | None:
        """The chain (leaf first) and key the listener presents, in PEM; None when TLS is off."""
        device = self.service.device
        state = device.state
        chain_pem: bytes | None = None
        key_pem: bytes | None = None
        context_instance = state.tls_credential_context
        if state.tls_committed and context_instance is not None:
            reference = context_instance.values("ElementInContext")[0]
            instance_id = getattr(reference, "selectors", {}).get("InstanceID")
            certificate = next((entry for entry in state.certificates if entry.instance_id == instance_id), None)
            if certificate is not None:
                leaf = x509.load_der_x509_certificate(certificate.der)
                leaf_key = leaf.public_key()
                for key_pair in state.key_pairs:
                    private_key = serialization.load_pem_private_key(key_pair.private_pem, None)
                    if private_key.public_key() == leaf_key:
                        chain_pem = leaf.public_bytes(serialization.Encoding.PEM)
                        key_pem = key_pair.private_pem
        if chain_pem is None and device.identity.enforces_tls:
            # §5.4: the factory RCFG chain only in pre-provisioning; once activated, the firmware's
            # own self-signed leaf until a server's TLS configuration is committed.
            if state.is_provisioned:
                identity = state.activated_tls_identity()
            else:
                if self.factory_identity is None:
                    self.factory_identity = shared_on_die_ca().issue_device_tls_identity(device.identity.uuid)
                identity = self.factory_identity
            chain_pem, key_pem = identity.chain_pem(), identity.key_pem()
        if chain_pem is None or key_pem is None:
            return None
        return chain_pem, key_pem

    def _context(self, chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as directory:
            folder = Path(directory)
            context.load_cert_chain(
                _write_temp(folder, "chain.pem", chain_pem), _write_temp(folder, "key.pem", key_pem)
            )
        return context

    async def start(self) -> None:
        served = self._served_chain()
        if served is None:
            # No certificate to serve: the port accepts and closes, like a listener that is off.
            self.leaf_der = None
            self.server = await asyncio.start_server(_refuse, self.host, self.port, reuse_address=True)
        else:
            chain_pem, key_pem = served
            self.leaf_der = x509.load_pem_x509_certificate(chain_pem).public_bytes(serialization.Encoding.DER)
            self.server = await asyncio.start_server(
                self._serve_session, self.host, self.port, ssl=self._context(chain_pem, key_pem), reuse_address=True
            )
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.leaf_der is not None:
            self.service.device.presented_tls_leaves.append(self.leaf_der)
        await self.service.handle_connection(reader, writer)

    def schedule_restart(self) -> None:
        loop = asyncio.get_running_loop()
        self._restart_task = loop.create_task(self._restart())

    async def _restart(self) -> None:
        # Let the answer to CommitChanges go out before the listener goes away.
        await asyncio.sleep(0.2)
        await self.stop()
        await self.start()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
            self.server = None


async def _refuse(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@contextlib.asynccontextmanager
async def serve_device(
    device: VirtualAmtDevice,
    *,
    host: str = "127.0.0.1",
    http_port: int = 0,
    tls_port: int | None = 0,
    tls: bool | None = None,
) -> AsyncIterator[DeviceEndpoint]:
    """Serve ``device`` on ``host``; ports default to ephemeral ones.

    The TLS listener is started for TLS-enforced devices (AMT 19+) or when ``tls=True``.
    """
    service = AmtHttpService(device)
    http_server = await asyncio.start_server(service.handle_connection, host, http_port)
    listener: TlsListener | None = None
    want_tls = device.identity.enforces_tls if tls is None else tls
    if want_tls and tls_port is not None:
        listener = TlsListener(service=service, host=host, port=tls_port)
        await listener.start()
        device.tls_configuration_listeners.append(listener.schedule_restart)
    endpoint = DeviceEndpoint(
        device=device,
        host=host,
        http_port=http_server.sockets[0].getsockname()[1],
        tls_port=listener.port if listener else None,
    )
    try:
        yield endpoint
    finally:
        http_server.close()
        if listener is not None:
            device.tls_configuration_listeners.remove(listener.schedule_restart)
            await listener.stop()
        for task in list(service.connections):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(http_server.wait_closed(), 1.0)
