"""Where the EA connects. Upstream listens on port 8082 (any path) and deployments put a gateway
in front that maps `wss://<host>/ea` to it (Kong, `strip_path`). Here the EA reaches us

- at `/ea` on the main TLS port (`wss://rps.example.com:8443/ea`), and
- with `RPS_EA_PORT`, on a listener of its own at any path, for an EA pointed at us directly
  or a gateway route kept from an upstream deployment (daphne needs that port as a second
  endpoint: `rps_site.serving.daphne_command(ea_port=...)`). Only the EA is served there.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.urls import URLPattern, re_path

EA_PATH = r"^/?ea(/.*)?$"


def on_enterprise_assistant_port(scope: dict[str, Any]) -> bool:
    server = scope.get("server")
    return bool(settings.EA_PORT and server and server[1] == settings.EA_PORT)


def serves_enterprise_assistant(scope: dict[str, Any]) -> bool:
    """Whether a WebSocket connection reaches the EA consumer: on the EA's port, or at `/ea`."""
    return on_enterprise_assistant_port(scope) or re.match(EA_PATH, str(scope.get("path", ""))) is not None


def enterprise_assistant_route() -> URLPattern:
    from activation.enterprise_assistant.consumers import EnterpriseAssistantConsumer

    return re_path(EA_PATH, EnterpriseAssistantConsumer.as_asgi())


class EnterpriseAssistantListener:
    """ASGI: connections to `RPS_EA_PORT` go to the EA consumer whatever their path; HTTP there gets
    404 (the API is not served on the EA's port); everything else goes to `application`."""

    def __init__(self, application: Any) -> None:
        from activation.enterprise_assistant.consumers import EnterpriseAssistantConsumer

        self.application = application
        self.assistant = EnterpriseAssistantConsumer.as_asgi()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not on_enterprise_assistant_port(scope):
            return await self.application(scope, receive, send)
        if scope["type"] == "websocket":
            return await self.assistant(scope, receive, send)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"Not found\n"})
            return None
        return await self.application(scope, receive, send)
