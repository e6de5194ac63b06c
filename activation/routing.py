"""The device WebSocket route: any path (clients use `/activate`), except the Enterprise
Assistant's `/ea`, which must come first."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from activation.consumers import DeviceConsumer


def websocket_application() -> Any:
    from channels.routing import URLRouter

    from activation.enterprise_assistant.routing import enterprise_assistant_route

    return URLRouter([enterprise_assistant_route(), re_path(r"^.*$", DeviceConsumer.as_asgi())])
