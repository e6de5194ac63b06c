"""The device WebSocket route: any path (clients use `/activate`)."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from activation.consumers import DeviceConsumer


def websocket_application() -> Any:
    from channels.routing import URLRouter

    return URLRouter([re_path(r"^.*$", DeviceConsumer.as_asgi())])
