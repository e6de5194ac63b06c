"""The plain WS-Man relay over the device WebSocket (protocol.md §3): one request out as a `wsman`
message, its answer back as `response`; `progress` messages when the client accepts them (§2.8)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from activation.protocol.messages import (
    ConnectionReset,
    DeviceResponse,
)
from activation.protocol.server_messages import (
    progress_message,
    wsman_message,
)
from activation.session_errors import DeviceConnectionReset

logger = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]


class SocketTransport:
    """`DeviceTransport` over the WebSocket: one outstanding request at a time, in strict order.

    An answer that arrives while nothing is outstanding (a late reply to a timed-out request, or
    a replay) is dropped: nothing on the wire correlates an answer with its request.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._answer: asyncio.Future[DeviceResponse | ConnectionReset] | None = None
        self.dropped_answers = 0
        self.frames_received = 0  # late answers included: `AmtSession` tells silent from slow by it

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        # A future and asyncio.timeout, not a queue and wait_for: wait_for wraps the wait in a
        # new task, and a session makes dozens of exchanges.
        answer_future = asyncio.get_running_loop().create_future()
        self._answer = answer_future
        try:
            await self._send(wsman_message(http_request))
            async with asyncio.timeout(timeout):
                answer = await answer_future
        finally:
            self._answer = None
        if isinstance(answer, ConnectionReset):
            raise DeviceConnectionReset(answer.reason)
        return answer.http_response

    def deliver(self, message: DeviceResponse | ConnectionReset) -> None:
        self.frames_received += 1
        if self._answer is None or self._answer.done():
            self.dropped_answers += 1
            logger.warning("dropped a device answer that no request was waiting for")
            return
        self._answer.set_result(message)


@dataclass
class SocketProgress:
    send: Send
    enabled: bool

    async def report(self, text: str) -> None:
        if self.enabled:
            await self.send(progress_message(text))
