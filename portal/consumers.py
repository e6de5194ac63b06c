"""The portal's live-progress socket (`/portal/live`): a logged-in portal user (the Django
session's cookie) with view permission on devices hears of its own tenant's device sessions as
they run, through portal.live's tenant groups: all of the tenant's (`/portal/live`, the dashboard) or
one device's (`/portal/live?device=<guid>`, the device page, only for a device the user may see)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator

from devices.models import Device
from devices.selectors import canonical_guid, device_list
from portal.live import tenant_group
from rps_site.models import TenantMembership
from rps_site.permissions import portal_user_may

LIVE_PATH: Final = "/portal/live"
VIEW_DEVICE: Final = "devices.view_device"
REFUSED: Final = 4403  # a close code the page can tell from a network failure


@dataclass(frozen=True)
class LiveSubscription:
    group: str  # the tenant group whose sessions the socket hears
    device: str | None  # a device page's device (canonical GUID): only its sessions are relayed


def live_subscription(user: Any, *, device: str, tenant: str | None) -> LiveSubscription | None:
    """What a socket follows, or None when the user may not follow what it asked for."""
    if not portal_user_may(user, [VIEW_DEVICE]):
        return None
    own = TenantMembership.tenant_of(user)
    if not device:
        from portal.site import known_tenants

        wanted = tenant if tenant is not None and user.is_superuser and tenant in known_tenants() else own
        return LiveSubscription(tenant_group(wanted), None)
    try:
        guid = canonical_guid(device)
    except ValueError:
        return None
    visible = Device.objects.all() if user.is_superuser else device_list(tenant_id=own)
    found = visible.filter(guid=guid).values_list("id", "tenant_id").first()
    if found is None:
        return None
    # A superuser follows a bound device in its tenant; everyone else in their own.
    owner = found[1] if user.is_superuser and found[1] is not None else own
    return LiveSubscription(tenant_group(owner), guid)


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
        self.subscription = await database_sync_to_async(live_subscription)(
            self.scope.get("user"),
            device=query.get("device", [""])[0][:64],
            tenant=query["tenant"][0][:36] if "tenant" in query else None,
        )
        if self.subscription is None:
            await self.close(code=REFUSED)
            return
        await self.channel_layer.group_add(self.subscription.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        subscription = getattr(self, "subscription", None)
        if subscription is not None:
            await self.channel_layer.group_discard(subscription.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None  # the page only listens

    async def portal_session_event(self, message: dict[str, Any]) -> None:
        device = self.subscription.device
        # A worker not yet upgraded (a rolling restart) still sends one event per message.
        events = message["events"] if "events" in message else [message["event"]]
        for event in events:
            if device is None or event["guid"].lower() == device:
                await self.send_json(event)


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
