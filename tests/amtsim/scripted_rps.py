"""A tiny scripted RPS: a WebSocket server that plays one flow against the rpc client.

Each test passes a coroutine that receives an ``RpsConversation`` and drives it: read the
first message, send ``wsman`` requests through the client to the device, send a terminal
message. Envelopes follow protocol.md §2 (server side: apiKey "xxxxx", status "ok").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from amtsim.digest import DigestChallenge, DigestClient
from tests.amtsim.rps_double import HttpAnswer, http_request, parse_http_answer


def server_message(method: str, *, message: str = "", payload: str | None = None, status: str = "ok") -> str:
    return json.dumps(
        {
            "method": method,
            "apiKey": "xxxxx",
            "appVersion": "2.40.0",
            "protocolVersion": "4.0.0",
            "status": status,
            "message": message,
            "payload": payload,
            "tenantId": "",
        }
    )


@dataclass
class RpsConversation:
    websocket: ServerConnection
    first: dict[str, Any] = field(default_factory=dict)
    device_payload: dict[str, Any] = field(default_factory=dict)
    digest: DigestClient | None = None
    received: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> None:
        self.first = json.loads(await self.websocket.recv())
        self.device_payload = json.loads(base64.b64decode(self.first["payload"]))
        self.digest = DigestClient(self.device_payload["username"], self.device_payload["password"])

    async def receive(self, timeout: float = 5.0) -> dict[str, Any] | None:
        try:
            message = json.loads(await asyncio.wait_for(self.websocket.recv(), timeout))
        except TimeoutError:
            return None
        self.received.append(message)
        return message

    async def send_wsman_once(self, xml: str, *, timeout: float = 5.0) -> HttpAnswer | None:
        assert self.digest is not None
        request = http_request(
            xml, authorization=self.digest.authorization(), host=f"{self.device_payload['uuid']}:16992"
        )
        await self.websocket.send(server_message("wsman", payload=base64.b64encode(request).decode()))
        reply = await self.receive(timeout)
        if reply is None:
            return None
        assert reply["method"] == "response", reply
        return parse_http_answer(base64.b64decode(reply["payload"]))

    async def call(self, xml: str, *, timeout: float = 5.0) -> HttpAnswer | None:
        """One WS-Man exchange with the digest retry of §3.3 (two authenticated retries)."""
        assert self.digest is not None
        for _attempt in range(3):
            answer = await self.send_wsman_once(xml, timeout=timeout)
            if answer is None or answer.status != 401:
                return answer
            self.digest.challenge = DigestChallenge.parse(answer.headers["www-authenticate"])
        return answer

    async def finish(self, method: str, status: dict[str, Any] | str) -> None:
        text = json.dumps(status) if isinstance(status, dict) else status
        await self.websocket.send(
            server_message(method, message=text, status="success" if method == "success" else "failed")
        )


Script = Callable[[RpsConversation], Awaitable[None]]


@dataclass
class ScriptedRps:
    script: Script
    url: str = ""
    conversations: list[RpsConversation] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    async def _handle(self, websocket: ServerConnection) -> None:
        conversation = RpsConversation(websocket)
        self.conversations.append(conversation)
        try:
            await conversation.start()
            await self.script(conversation)
            # Like RPS: stay connected after the terminal message until the client leaves.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.wait_closed(), 5.0)
        except BaseException as error:  # surfaced by the test through .errors
            self.errors.append(error)
            raise


@contextlib.asynccontextmanager
async def scripted_rps(script: Script, *, ssl_context: Any = None) -> AsyncIterator[ScriptedRps]:
    rps = ScriptedRps(script)
    async with serve(rps._handle, "127.0.0.1", 0, ssl=ssl_context, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        rps.url = f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/activate"
        yield rps


def http_response_complete(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        return body.endswith(b"0\r\n\r\n")
    for line in headers.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


@dataclass
class TunnelledTls:
    """RPS's side of §5: a TLS client whose network is the WebSocket (ssl.MemoryBIO)."""

    conversation: RpsConversation
    context: Any
    incoming: Any = None
    outgoing: Any = None
    tls: Any = None
    resets: int = 0

    async def open(self) -> None:
        import ssl

        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = self.context.wrap_bio(self.incoming, self.outgoing, server_side=False)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush_and_receive()
        await self._flush()

    async def _flush(self) -> bool:
        data = self.outgoing.read()
        if data:
            await self.conversation.websocket.send(server_message("tls_data", payload=base64.b64encode(data).decode()))
        return bool(data)

    async def _flush_and_receive(self) -> None:
        await self._flush()
        message = await self.conversation.receive(5.0)
        if message is None:
            raise TimeoutError("no tls_data from the client")
        if message["method"] == "connection_reset":
            self.resets += 1
            raise ConnectionResetError(base64.b64decode(message["payload"]).decode())
        assert message["method"] == "tls_data", message
        self.incoming.write(base64.b64decode(message["payload"]))

    async def exchange(self, request: bytes) -> bytes:
        import ssl

        self.tls.write(request)
        response = bytearray()
        while not http_response_complete(bytes(response)):
            try:
                response += self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush_and_receive()
            except ssl.SSLZeroReturnError:
                break
        return bytes(response)

    def peer_leaf(self) -> bytes:
        return self.tls.getpeercert(binary_form=True)
