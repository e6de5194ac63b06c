"""The Enterprise Assistant's WebSocket: thin Channels glue between one EA and the activations
that need it (the routing protocol is in `layer`).

The stock EA connects unchanged: no Origin, no subprotocol, its credentials in `x-meshauth`. It is
refused (HTTP 403 on the upgrade) unless they match an account; once in, the connection joins its
tenant's group, takes requests, correlates the EA's replies by `nodeid` and the reply's subaction,
and, when its socket closes, fails every request still pending on it at once. An EA frame is
input from the network: size-limited, parsed defensively, and never logged in full (PEAP replies
carry a password).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import ChannelFull, StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from activation.admission import insecure_transport
from activation.enterprise_assistant import layer as routing
from activation.enterprise_assistant.authentication import authenticate_assistant
from activation.enterprise_assistant.messages import reply_fits, shown

logger = logging.getLogger(__name__)

EA_FRAME_LIMIT = 64 * 1024  # a reply holds at most a certificate and a root (a few KiB each)
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
# channels_redis forgets group members after a day (group_expiry); an EA stays connected for months.
GROUP_RENEWAL_SECONDS = 3600.0


@dataclass(frozen=True)
class PendingRequest:
    subaction: str
    reply_channel: str


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class EnterpriseAssistantConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.pending: dict[str, PendingRequest] = {}
        self.group: str | None = None
        self.renewal: asyncio.Task[None] | None = None
        client = self.scope.get("client") or ("", 0)
        self.client_address = str(client[0])
        # The EA's password rides in its upgrade request: TLS (or a trusted TLS proxy) as for devices.
        if insecure_transport(self.scope) is not None:
            logger.warning("refused a plain ws:// Enterprise Assistant connection from %s", self.client_address)
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        account = authenticate_assistant(_header(self.scope, b"x-meshauth"))
        if account is None:
            logger.warning(
                "refused an Enterprise Assistant from %s: unknown user or wrong password", self.client_address
            )
            await self.close(code=CLOSE_POLICY_VIOLATION)
            return
        self.group = routing.assistant_group(account.tenant_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.renewal = asyncio.create_task(self._renew_group_membership())
        await self.accept()
        logger.info(
            "Enterprise Assistant connected from %s (account %s, tenant %s)",
            self.client_address,
            shown(account.user) if account.user is not None else "anonymous",
            shown(account.tenant_id),
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message (a thread hop each) and
        # at disconnect; nothing here uses the ORM, and routing must not wait behind other threads.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # As Channels' own, without closing database connections on the way out (none are used).
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(frame) > EA_FRAME_LIMIT:
            logger.warning("closed the Enterprise Assistant connection from %s: frame too big", self.client_address)
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            message = json.loads(frame)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the parser's depth
            logger.warning("dropped an Enterprise Assistant frame that is not JSON (from %s)", self.client_address)
            return
        node_id = message.get("nodeid") if isinstance(message, dict) else None
        pending = self.pending.get(node_id) if isinstance(node_id, str) else None
        if pending is None:
            # The EA's hello ({"setFlags":3}), a pong, or a reply nobody waits for (late, duplicate).
            logger.debug("ignored an Enterprise Assistant message for no pending request")
            return
        assert isinstance(message, dict) and isinstance(node_id, str)
        if not reply_fits(pending.subaction, message):
            logger.warning(
                "dropped an Enterprise Assistant reply with subaction %s: it does not answer %s",
                shown(message.get("subaction")),
                pending.subaction,
            )
            await self._tell(pending, {"type": routing.DROPPED, "subaction": shown(message.get("subaction"))})
            return
        del self.pending[node_id]
        await self._tell(pending, {"type": routing.REPLY, "frame": frame})

    async def ea_offer(self, event: dict[str, Any]) -> None:
        await self._tell_channel(event["reply_channel"], {"type": routing.AVAILABLE})

    async def ea_request(self, event: dict[str, Any]) -> None:
        pending = PendingRequest(subaction=event["subaction"], reply_channel=event["reply_channel"])
        self.pending[event["nodeid"]] = pending
        await self.send(text_data=event["frame"])
        await self._tell(pending, {"type": routing.ACCEPTED})

    async def ea_cancel(self, event: dict[str, Any]) -> None:
        pending = self.pending.get(event["nodeid"])
        if pending is not None and pending.reply_channel == event["reply_channel"]:
            del self.pending[event["nodeid"]]

    async def disconnect(self, code: int) -> None:
        if self.renewal is not None:
            self.renewal.cancel()
        if self.group is None:
            return  # refused at connect
        await self.channel_layer.group_discard(self.group, self.channel_name)
        logger.info("Enterprise Assistant from %s disconnected (code %s)", self.client_address, code)
        pending, self.pending = self.pending, {}
        for request in pending.values():
            await self._tell(request, {"type": routing.LOST})

    async def _tell(self, pending: PendingRequest, event: dict[str, Any]) -> None:
        await self._tell_channel(pending.reply_channel, event)

    async def _tell_channel(self, reply_channel: str, event: dict[str, Any]) -> None:
        try:
            await self.channel_layer.send(reply_channel, {**event, "assistant": self.channel_name})
        except ChannelFull:
            logger.warning("an Enterprise Assistant requester's channel is full; dropped a %s", event["type"])

    async def _renew_group_membership(self) -> None:
        assert self.group is not None
        while True:
            await asyncio.sleep(GROUP_RENEWAL_SECONDS)
            await self.channel_layer.group_add(self.group, self.channel_name)
