"""The portal's live-progress socket: who may open it (the Django session's user, staff with view
permission on devices, same origin), and that it relays only the user's own tenant's sessions
(the dashboard) or one visible device's (the device page), in the order steps ended. The real
ASGI route of rps_site.asgi with the in-memory channel layer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import Client

from activation import session_events
from activation.flows.ports import StepOutcome, StepRecord
from activation.session_events import SessionEnded, SessionInfo, SessionStarted, StepEnded
from devices.services import runs
from devices.services.runs import DeviceReport, VerifiedChange
from portal.consumers import PortalLiveRoute
from portal.live import tenant_group
from rps_site.models import TenantMembership

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
ORIGIN = b"http://testserver"


def application() -> Any:
    async def no_other_route(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError(f"{scope['path']} left the portal's route")

    return PortalLiveRoute(no_other_route)


@sync_to_async
def session_cookie(tenant_id: str, codenames: Iterable[str] = ("view_device",), *, staff: bool = True) -> bytes:
    user = User.objects.create_user(username=f"live-{uuid.uuid4().hex[:8]}", password="unused-Pw1!x", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=list(codenames)))
    TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


@sync_to_async
def bound_device(tenant_id: str) -> str:
    guid = str(uuid.uuid4())
    run = runs.run_start(guid=guid, tenant_id=tenant_id, action="activate").run
    runs.run_finish(
        run=run,
        succeeded=True,
        change=VerifiedChange(report=DeviceReport(), status="activated", bind_tenant_id=tenant_id),
    )
    return guid


def socket(cookie: bytes | None, query: str = "", origin: bytes = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"origin", origin)] + ([(b"cookie", cookie)] if cookie else [])
    path = "/portal/live" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application(), path, headers=headers)


def session_of(guid: str, tenant_id: str, run_id: int = 7) -> SessionInfo:
    return SessionInfo(
        guid=guid, tenant_id=tenant_id, action="activate", profile="ccm", client_address="192.0.2.1", run_id=run_id
    )


def publish_session(session: SessionInfo) -> None:
    now = datetime.now(UTC)
    session_events.publish(SessionStarted(session, now))
    session_events.publish(StepEnded(session, 1, StepRecord("IPS_HostBasedSetupService.Setup", StepOutcome.SUCCESS)))
    skipped = StepRecord("register with MPS", StepOutcome.SKIPPED, "MPS is not configured (RPS_MPS_URL is empty)")
    session_events.publish(StepEnded(session, 2, skipped))
    session_events.publish(SessionEnded(session, "failure", "configure TLS", "ReturnValue 1", 3.2, now))


async def received(communicator: WebsocketCommunicator, count: int) -> list[dict[str, Any]]:
    return [await communicator.receive_json_from(timeout=5) for _ in range(count)]


async def test_the_dashboard_socket_hears_its_tenants_sessions_in_order_and_no_others() -> None:
    communicator = socket(await session_cookie("acme"))
    connected, _ = await communicator.connect()
    assert connected
    publish_session(session_of(str(uuid.uuid4()), "globex"))
    guid = str(uuid.uuid4())
    publish_session(session_of(guid, "acme"))
    events = await received(communicator, 4)
    assert [(event["kind"], event["guid"]) for event in events] == [
        ("started", guid),
        ("step", guid),
        ("step", guid),
        ("ended", guid),
    ]
    assert (events[2]["position"], events[2]["outcome"], events[2]["outcomeLabel"]) == (2, "skipped", "Skipped")
    assert (events[3]["failedStep"], events[3]["cause"]) == ("configure TLS", "ReturnValue 1")
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_the_device_socket_hears_only_that_device() -> None:
    guid, other = await bound_device("acme"), await bound_device("acme")
    communicator = socket(await session_cookie("acme"), f"device={guid.upper()}")
    assert (await communicator.connect())[0]
    publish_session(session_of(other, "acme"))
    publish_session(session_of(guid, "acme"))
    events = await received(communicator, 4)
    assert {event["guid"] for event in events} == {guid}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_burst_of_sessions_reaches_the_socket_in_few_layer_messages_in_order() -> None:
    """Hundreds of sessions at once: every event arrives, each session's in order, and the layer
    carries them in batches (a message per tenant per round, not one per step per group)."""
    communicator = socket(await session_cookie("acme"))
    assert (await communicator.connect())[0]
    layer = get_channel_layer()
    sent: list[int] = []
    original = layer.group_send

    async def counting_group_send(group: str, message: dict[str, Any]) -> None:
        sent.append(len(message["events"]))
        await original(group, message)

    layer.group_send = counting_group_send
    try:
        guids = [str(uuid.uuid4()) for _ in range(50)]
        for guid in guids:
            publish_session(session_of(guid, "acme"))
        events = await received(communicator, 4 * len(guids))
    finally:
        del layer.group_send
    for guid in guids:
        assert [event["kind"] for event in events if event["guid"] == guid] == ["started", "step", "step", "ended"]
    assert sum(sent) == 200
    assert len(sent) <= 2
    await communicator.disconnect()


@pytest.mark.parametrize(
    "case",
    [
        "anonymous",
        "no permission",
        "not staff",
        "another tenant's device",
        "unknown device",
        "bad guid",
        "other origin",
        "origin of another port",
    ],
)
async def test_refused(case: str) -> None:
    guid = await bound_device("globex")
    cookie: bytes | None = await session_cookie(
        "acme", () if case == "no permission" else ("view_device",), staff=case != "not staff"
    )
    query = {"another tenant's device": f"device={guid}", "unknown device": f"device={uuid.uuid4()}"}.get(case, "")
    if case == "bad guid":
        query = "device=../../x"
    origin = {"other origin": b"https://evil.example", "origin of another port": b"http://testserver:8080"}
    communicator = socket(None if case == "anonymous" else cookie, query, origin=origin.get(case, ORIGIN))
    connected, _ = await communicator.connect()
    assert not connected
    await asyncio.sleep(0)


async def test_a_worker_of_the_previous_release_is_still_heard_during_a_rolling_restart() -> None:
    """Before batching a message carried one `event`: a socket on an upgraded worker relays it."""
    communicator = socket(await session_cookie("acme"))
    assert (await communicator.connect())[0]
    event = {"guid": str(uuid.uuid4()), "kind": "started", "run": 1, "action": "activate", "profile": "p"}
    await get_channel_layer().group_send(tenant_group("acme"), {"type": "portal.session_event", "event": event})
    assert await communicator.receive_json_from(timeout=5) == event
    await communicator.disconnect()
