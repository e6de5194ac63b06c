"""The device WebSocket: thin Channels glue between rpc-go and `DeviceSessionRunner`.

Checks the transport, the origin and the per-address limits, parses each frame, hands the first
request to a runner task and later answers to its transport, sends what comes back. rpc-go sends
no credentials, so this endpoint is a security boundary: foreign origins are refused, plain
`ws://` only with debug on, connections are limited per address, every session is bounded in
time (a first frame within `RPS_DEVICE_FIRST_FRAME_TIMEOUT`, the whole session within
`RPS_DEVICE_SESSION_DEADLINE`), and nothing logged carries a secret.

A session ends with exactly one terminal message. When the consumer ends it (a protocol error,
the deadline), the running flow is cancelled first and its run records why.
"""

from __future__ import annotations

import asyncio
import logging
import secrets as random_source
from collections.abc import Callable, Coroutine
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from activation import admission
from activation.plan.flow_choice import Transport, transport_for
from activation.protocol.envelope import parse_client_message
from activation.protocol.messages import (
    ConnectionReset,
    DeviceRequest,
    DeviceResponse,
    HeartbeatResponse,
    PortSwitchAck,
    ProtocolError,
    TlsData,
)
from activation.protocol.server_messages import error_message, validation_error_message
from activation.protocol.status import PlainStatus
from activation.runner import DeviceSessionRunner
from activation.socket_relay import SocketTransport
from activation.tunnel import PortSwitchingTransport, TlsTunnelTransport
from metrics.devices import connection_refused, socket_closed, socket_opened
from rps_site import draining
from rps_site.serving import DEVICE_FRAME_LIMIT

logger = logging.getLogger(__name__)

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
# websocket.close carries a reason from this ASGI WebSocket spec version on (`rps_site.serve`).
CLOSE_REASON_SPEC_VERSION = (2, 3)


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def server_sends_close_reasons(scope: dict[str, Any]) -> bool:
    spec_version = str((scope.get("asgi") or {}).get("spec_version") or "2.0")
    major, _, minor = spec_version.partition(".")
    return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= CLOSE_REASON_SPEC_VERSION


class DeviceConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels would also open a channel-layer channel per connection and wait on it beside
        # the socket (a new task and an asyncio.wait per frame; a Redis round trip per
        # connection with a Redis layer). Nothing ever addresses a device session by channel
        # name, so frames are read and dispatched one by one.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.admitted = False
        self.timers: list[asyncio.TimerHandle] = []
        self.enforcing: set[asyncio.Task[None]] = set()
        self.stop_watching_drain: Callable[[], None] | None = None
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            for timer in self.timers:
                timer.cancel()
            if self.stop_watching_drain is not None:
                self.stop_watching_drain()
            if self.admitted:
                socket_closed()
                await admission.limits.release(self.client_address)

    async def connect(self) -> None:
        self.client_id = random_source.token_hex(8)
        client = self.scope.get("client") or ("", 0)
        self.client_address = str(client[0])
        self.transport: SocketTransport | TlsTunnelTransport | PortSwitchingTransport | None = None
        self.runner: DeviceSessionRunner | None = None
        self.task: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None
        self.ended = False  # the terminal message is (being) sent: nothing else is
        self.first_frame_seen = False
        origin = header(self.scope, b"origin")
        if origin is not None and origin not in settings.DEVICE_ALLOWED_ORIGINS:
            logger.warning("refused a device connection from origin %s", origin[:100])
            connection_refused("origin")
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        insecure = admission.insecure_transport(self.scope)
        if insecure is not None:
            logger.warning("refused a plain ws:// device connection from %s", self.client_address)
            connection_refused("plain_transport")
            await self._refuse(CLOSE_POLICY_VIOLATION, insecure)
            return
        refused = await admission.limits.admit(self.client_address)
        if refused is not None:
            logger.warning("refused a device connection from %s: %s", self.client_address, refused)
            connection_refused(admission.refusal_cause(refused))
            await self._refuse(CLOSE_TRY_AGAIN_LATER, refused)
            return
        self.admitted = True
        socket_opened()
        await self.accept()
        self._after(settings.DEVICE_FIRST_FRAME_TIMEOUT, self._first_frame_overdue)
        self._after(settings.DEVICE_SESSION_DEADLINE, self._deadline_passed)
        self.stop_watching_drain = draining.worker.at_deadline(lambda: self._enforce(self._server_shutting_down))

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message, a thread hop each
        # time; this consumer never uses the ORM on its own thread (the runner's database work
        # runs in worker threads), and a session exchanges dozens of messages.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.first_frame_seen = True
        if self.ended:
            return  # the terminal message is out; nothing the client says now changes anything
        frame = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(frame.encode("utf-8")) > DEVICE_FRAME_LIMIT:
            await self._stop_flow(f"protocol error: a frame over {DEVICE_FRAME_LIMIT} bytes")
            await self._close(CLOSE_TOO_BIG, "frame too big")
            return
        try:
            message = parse_client_message(frame, client_id=self.client_id)
        except ProtocolError as refused:
            await self._refuse_mid_session(refused)
            return
        if isinstance(message, DeviceRequest):
            if self.task is not None:
                await self._refuse_mid_session(ProtocolError("A session already started on this connection."))
                return
            transport = transport_for(message)  # §5.1
            if transport is Transport.TLS_ENFORCED:
                self.transport = TlsTunnelTransport.for_request(message, self.send_text)
            elif transport is Transport.PORT_SWITCH:
                self.transport = PortSwitchingTransport.for_request(SocketTransport(self.send_text), self.send_text)
            else:
                self.transport = SocketTransport(self.send_text)
            self.runner = DeviceSessionRunner(
                message, self.transport, self.send_text, client_address=self.client_address
            )
            self.task = asyncio.create_task(self._run(self.runner))
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

    async def _refuse_mid_session(self, refused: ProtocolError) -> None:
        """A protocol error ends the session: the flow is cancelled before the one terminal message."""
        if self.ended:
            return
        if self.task is not None:
            logger.warning("ended a device session from %s: a protocol error mid-session", self.client_address)
        await self._stop_flow(f"protocol error: {refused.client_text}")
        await self._end(validation_error_message(refused))

    async def _stop_flow(self, cause: str) -> None:
        """Cancel the running flow, if any, and wait until its run has recorded `cause`."""
        self.ended = True
        task, runner = self.task, self.runner
        if task is None or runner is None or task.done():
            return
        runner.cancelling_because(cause)
        task.cancel()
        await asyncio.wait([task])

    async def _end(self, terminal_message: str) -> None:
        """Send the terminal message and let the client close: rpc-go does as soon as it reads it.

        Closing at once loses the message under load: the WebSocket library aborts the TCP
        connection when the client does not answer the close frame within a second, and the
        reset throws away the terminal message still unread in the client's buffer (seen in
        bench/activation_bench.py). The server closes only after a grace period.
        """
        if self.closing is not None:
            return
        self.ended = True
        self.closing = asyncio.create_task(self._close_after_grace())
        await self.send(text_data=terminal_message)

    async def _close_after_grace(self) -> None:
        await asyncio.sleep(settings.DEVICE_CLOSE_GRACE_SECONDS)
        await self.close()

    # -- limits ---------------------------------------------------------------------------------

    def _after(self, seconds: float, check: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `check` in its own task after `seconds`, unless the socket is gone by then."""
        self.timers.append(asyncio.get_running_loop().call_later(seconds, self._enforce, check))

    def _enforce(self, check: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.create_task(check())
        self.enforcing.add(task)
        task.add_done_callback(self.enforcing.discard)

    async def _first_frame_overdue(self) -> None:
        if self.first_frame_seen:
            return
        limit = settings.DEVICE_FIRST_FRAME_TIMEOUT
        logger.warning("closed a device connection from %s: no frame within %g s", self.client_address, limit)
        self.ended = True
        await self._close(CLOSE_POLICY_VIOLATION, f"no request within {limit:g} s")

    async def _deadline_passed(self) -> None:
        if self.ended:
            return
        limit = settings.DEVICE_SESSION_DEADLINE
        text = f"Failed: the session took longer than its limit of {limit:g} s"
        logger.warning("ended a device session from %s: deadline of %g s", self.client_address, limit)
        await self._stop_flow(f"session deadline of {limit:g} s passed")
        await self._end(error_message(PlainStatus(text)))

    async def _server_shutting_down(self) -> None:
        """The worker drained for `RPS_DRAIN_SECONDS` and this session has not ended: it ends now,
        with a reason the client shows and the run records (rps_site.draining)."""
        if self.ended:
            return
        limit = settings.DRAIN_SECONDS
        logger.warning("ended a device session from %s: the server is shutting down", self.client_address)
        await self._stop_flow(f"server shut down: its drain deadline of {limit:g} s passed")
        await self._end(error_message(PlainStatus("Failed: the server shut down before the session ended; try again")))

    async def _refuse(self, code: int, reason: str) -> None:
        """Refuse a connection: with a close code and reason the client shows when the server can
        send one (`rps_site.serve`), else by refusing the WebSocket handshake (HTTP 403)."""
        self.ended = True  # a frame the client sends before the close arrives changes nothing
        if server_sends_close_reasons(self.scope):
            await self.accept()
            await self.close(code=code, reason=reason)
        else:
            await self.close()

    async def _close(self, code: int, reason: str) -> None:
        if server_sends_close_reasons(self.scope):
            await self.close(code=code, reason=reason)
        else:
            await self.close()  # 1000: other servers (plain daphne) send no other code after accept

    async def disconnect(self, code: int) -> None:
        for task in (self.task, self.closing, *self.enforcing):
            if task is not None and not task.done():
                task.cancel()
