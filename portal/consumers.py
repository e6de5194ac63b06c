"""The portal's live-progress socket (`/portal/live`): a logged-in portal user (the Django
session's cookie) with view permission on devices hears of its own tenant's device sessions as
they run, portal.live's groups: the tenant's (`/portal/live`, the dashboard) or one device's
(`/portal/live?device=<guid>`, the device page, only for a device the user may see)."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator

from devices.models import Device
from devices.selectors import canonical_guid, device_list
from portal.live import device_group, tenant_group
from rps_site.models import TenantMembership
from rps_site.permissions import portal_user_may

LIVE_PATH: Final = "/portal/live"
VIEW_DEVICE: Final = "devices.view_device"
REFUSED: Final = 4403  # a close code the page can tell from a network failure


def live_groups(user: Any, *, device: str, tenant: str | None) -> list[str]:
    """The groups a socket joins, or [] when the user may not follow what it asked for."""
    if not portal_user_may(user, [VIEW_DEVICE]):
        return []
    own = TenantMembership.tenant_of(user)
    if not device:
        from portal.site import known_tenants

        wanted = tenant if tenant is not None and user.is_superuser and tenant in known_tenants() else own
        return [tenant_group(wanted)]
    try:
        guid = canonical_guid(device)
    except ValueError:
        return []
    visible = Device.objects.all() if user.is_superuser else device_list(tenant_id=own)
    found = visible.filter(guid=guid).values_list("id", "tenant_id").first()
    if found is None:
        return []
    # A superuser follows a bound device in its tenant; everyone else in their own.
    owner = found[1] if user.is_superuser and found[1] is not None else own
    return [device_group(owner, guid)]


def same_origin(scope: dict[str, Any]) -> bool:
    """The page that opens the socket is this server's: its Origin names the host the socket was
    opened to (a page elsewhere cannot ride the admin's session cookie, whatever ALLOWED_HOSTS says)."""
    headers = dict(scope.get("headers") or [])
    origin = urlsplit(headers.get(b"origin", b"").decode("latin-1"))
    host = headers.get(b"host", b"").decode("latin-1")
    return origin.scheme in ("http", "https") and bool(host) and origin.netloc == host


class PortalLiveConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        if not same_origin(self.scope):
            await self.close(code=REFUSED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("ascii", "replace"))
        self.joined: list[str] = await database_sync_to_async(live_groups)(
            self.scope.get("user"),
            device=query.get("device", [""])[0][:64],
            tenant=query["tenant"][0][:36] if "tenant" in query else None,
        )
        if not self.joined:
            await self.close(code=REFUSED)
            return
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None  # the page only listens

    async def portal_session_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])


class PortalLiveRoute:
    """`/portal/live` to the portal's consumer (session-authenticated, same-origin only), every
    other WebSocket to `fallback` (the device and Enterprise Assistant routes)."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.portal = AllowedHostsOriginValidator(AuthMiddlewareStack(PortalLiveConsumer.as_asgi()))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope.get("path") == LIVE_PATH:
            await self.portal(scope, receive, send)
        else:
            await self.fallback(scope, receive, send)
