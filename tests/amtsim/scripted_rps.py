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
