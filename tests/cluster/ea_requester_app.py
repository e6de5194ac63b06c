"""The workers' ASGI application plus one route for the tests alone (`scripts/cluster.sh up --asgi
tests.cluster.ea_requester_app:application`): a WebSocket at `/test/ea-request` that runs an
Enterprise Assistant request from this worker, as an activation flow will, and answers with what
came back. An EA connected to another worker proves the channel layer joins the workers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from activation.enterprise_assistant import PEAP_MSCHAPV2, EnterpriseAssistantExchange
from activation.enterprise_assistant.errors import EnterpriseAssistantFailure
from rps_site.asgi import application as rps_application

TEST_PATH = "/test/ea-request"


class EaRequester(AsyncWebsocketConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        request = json.loads(text_data or "{}")
        exchange = EnterpriseAssistantExchange(tenant_id=request["tenant"], device_name=request["device"], timeout=10)
        try:
            reply = await exchange.request_profile(auth_protocol=PEAP_MSCHAPV2)
        except EnterpriseAssistantFailure as failure:
            await self.send(text_data=json.dumps({"error": str(failure)}))
            return
        assert reply.account is not None
        password = reply.account.password.reveal().encode()
        answer = {"username": reply.account.username, "password_sha256": hashlib.sha256(password).hexdigest()}
        await self.send(text_data=json.dumps(answer))


requester = EaRequester.as_asgi()


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket" and scope["path"] == TEST_PATH:
        return await requester(scope, receive, send)
    return await rps_application(scope, receive, send)
