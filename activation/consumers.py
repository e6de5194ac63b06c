"""The device WebSocket: thin Channels glue between rpc-go and `DeviceSessionRunner`.

Checks the frame size and the origin, parses each frame, hands the first request to a runner
task and later answers to its transport, sends what comes back. rpc-go sends no credentials, so
this endpoint is a security boundary: foreign origins are refused, plain `ws://` only with debug
on, connections are rate-limited per address, and nothing logged carries a secret.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_source
import time
from collections import defaultdict, deque
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from activation.protocol import (
    ConnectionReset,
    DeviceRequest,
    DeviceResponse,
    HeartbeatResponse,
    PortSwitchAck,
    ProtocolError,
    TlsData,
    parse_client_message,
    validation_error_message,
)
from activation.runner import DeviceSessionRunner, SocketTransport
from activation.tunnel import PortSwitchingTransport, TlsTunnelTransport
from rps_site.serving import DEVICE_FRAME_LIMIT

logger = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009


class ConnectionRateLimiter:
    """At most `limit` new device connections per address in a sliding window."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, address: str, *, limit: int, window: float) -> bool:
        now = time.monotonic()
        recent = self._recent[address]
        while recent and now - recent[0] > window:
            recent.popleft()
        if len(recent) >= limit:
            return False
        recent.append(now)
        return True


rate_limiter = ConnectionRateLimiter()


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class DeviceConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels would also open a channel-layer channel per connection and wait on it beside
        # the socket (a new task and an asyncio.wait per frame; a Redis round trip per
        # connection with a Redis layer). Nothing ever addresses a device session by channel
        # name, so frames are read and dispatched one by one.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self) -> None:
        self.client_id = random_source.token_hex(8)
        client = self.scope.get("client") or ("", 0)
        self.client_address = str(client[0])
        self.transport: SocketTransport | TlsTunnelTransport | PortSwitchingTransport | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None
        origin = header(self.scope, b"origin")
        if origin is not None and origin not in settings.DEVICE_ALLOWED_ORIGINS:
            logger.warning("refused a device connection from origin %s", origin[:100])
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        # daphne leaves `scheme` out (its TLS endpoint is configured by the serving command); servers
        # and proxies that report it (`--proxy-headers`, X-Forwarded-Proto) get plain ws:// refused.
        if self.scope.get("scheme") == "ws" and not settings.DEBUG and not settings.DEVICE_ALLOW_PLAIN_WS:
            logger.warning("refused a plain ws:// device connection from %s", self.client_address)
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        if not rate_limiter.allow(self.client_address, limit=settings.DEVICE_CONNECTIONS_PER_MINUTE, window=60.0):
            logger.warning("rate-limited device connections from %s", self.client_address)
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        await self.accept()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a thread hop each
        # time; this consumer never uses the ORM on its own thread (the runner's database work
        # runs in worker threads), and a session exchanges dozens of messages.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing is not None:
            return  # the terminal message is out; nothing the client says now changes anything
        frame = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(frame.encode("utf-8")) > DEVICE_FRAME_LIMIT:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            message = parse_client_message(frame, client_id=self.client_id)
        except ProtocolError as refused:
            await self._end(validation_error_message(refused))
            return
        if isinstance(message, DeviceRequest):
            if self.task is not None:
                await self._end(
                    validation_error_message(ProtocolError("A session already started on this connection."))
                )
                return
            if message.payload.tls_enforced:  # §5.1: AMT 19+, TLS on 16993 from the first call
                self.transport = TlsTunnelTransport.for_request(message, self.send_text)
            elif message.switches_to_tls_tunnel:  # §5.1: `--tls-tunnel`, plain until the port switch
                self.transport = PortSwitchingTransport.for_request(SocketTransport(self.send_text), self.send_text)
            else:
                self.transport = SocketTransport(self.send_text)
            runner = DeviceSessionRunner(message, self.transport, self.send_text, client_address=self.client_address)
            self.task = asyncio.create_task(self._run(runner))
        elif isinstance(message, TlsData | PortSwitchAck) and isinstance(
            self.transport, TlsTunnelTransport | PortSwitchingTransport
        ):
            self.transport.deliver(message)
        elif isinstance(message, DeviceResponse | ConnectionReset):
            if self.transport is None:
                await self._end(validation_error_message(ProtocolError("A response arrived before any request.")))
                return
            self.transport.deliver(message)
        elif isinstance(message, HeartbeatResponse):
            return
        else:
            logger.info("ignored a %s message outside TLS-tunnel mode", type(message).__name__)

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _run(self, runner: DeviceSessionRunner) -> None:
        terminal = await runner.execute()
        await self._end(terminal)

    async def _end(self, terminal_message: str) -> None:
        """Send the terminal message and let the client close: rpc-go does as soon as it reads it.

        Closing at once loses the message under load: the WebSocket library aborts the TCP
        connection when the client does not answer the close frame within a second, and the
        reset throws away the terminal message still unread in the client's buffer (seen in
        bench/activation_bench.py). The server closes only after a grace period.
        """
        await self.send(text_data=terminal_message)
        self.closing = asyncio.create_task(self._close_after_grace())

    async def _close_after_grace(self) -> None:
        await asyncio.sleep(settings.DEVICE_CLOSE_GRACE_SECONDS)
        await self.close()

    async def disconnect(self, code: int) -> None:
        for task in (self.task, self.closing):
            if task is not None and not task.done():
                task.cancel()
