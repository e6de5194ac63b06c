"""A worker's drain as the application sees it: the health check the load balancer asks, and device
sessions told the drain deadline has passed (tests/cluster/test_draining.py drains real workers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from activation import admission
from activation.consumers import DeviceConsumer
from rps_site import draining
from rps_site.serve import WorkerHealth


@pytest.fixture(autouse=True)
def fresh_drain(monkeypatch: pytest.MonkeyPatch) -> draining.WorkerDrain:
    drain = draining.WorkerDrain()
    monkeypatch.setattr(draining, "worker", drain)
    monkeypatch.setattr(admission, "limits", admission.InProcessAdmission())
    return drain


async def call(application: Any, path: str) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


async def test_the_health_check_says_serving_then_draining(fresh_drain: draining.WorkerDrain) -> None:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    health = WorkerHealth(application)
    assert await call(health, "/healthz") == (200, b'{"status":"serving"}')
    fresh_drain.begin()
    assert await call(health, "/healthz") == (503, b'{"status":"draining"}')
    # Everything else goes on to the application, draining or not.
    assert await call(health, "/healthz/") == (204, b"")
    assert await call(health, "/api/v1/admin/health") == (204, b"")


def test_deadline_callbacks_run_once_and_can_be_withdrawn(fresh_drain: draining.WorkerDrain) -> None:
    called: list[str] = []
    fresh_drain.at_deadline(lambda: called.append("kept"))
    withdraw = fresh_drain.at_deadline(lambda: called.append("withdrawn"))
    withdraw()
    fresh_drain.deadline_passed()
    fresh_drain.deadline_passed()
    assert called == ["kept"]


async def test_a_device_session_at_the_drain_deadline_ends_with_the_reason(
    fresh_drain: draining.WorkerDrain, settings: Any
) -> None:
    settings.DRAIN_SECONDS = 42
    settings.DEVICE_CLOSE_GRACE_SECONDS = 0.1
    communicator = WebsocketCommunicator(DeviceConsumer.as_asgi(), "/activate")
    communicator.scope.update(asgi={"version": "3.0", "spec_version": "2.3"}, extensions={"tls": {}})
    connected, _ = await communicator.connect()
    assert connected
    fresh_drain.deadline_passed()
    terminal = json.loads(await communicator.receive_from(timeout=5))
    assert (terminal["method"], terminal["status"]) == ("error", "failed")
    assert "the server shut down before the session ended; try again" in terminal["message"]
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    await communicator.wait()


async def test_a_closed_session_leaves_nothing_to_call_at_the_deadline(fresh_drain: draining.WorkerDrain) -> None:
    communicator = WebsocketCommunicator(DeviceConsumer.as_asgi(), "/activate")
    communicator.scope.update(asgi={"version": "3.0", "spec_version": "2.3"}, extensions={"tls": {}})
    assert (await communicator.connect())[0]
    assert len(fresh_drain._at_deadline) == 1
    await communicator.disconnect()
    assert fresh_drain._at_deadline == set()
