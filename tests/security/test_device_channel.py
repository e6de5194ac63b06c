"""SECURITY.md checks 11-13 on the device WebSocket, in process with Channels' communicator:
frame size, garbage, step order, hostile GUIDs and Origin. None of them writes to Vault.

The communicator's scope is what `rps_site.serve` gives a TLS connection (the `tls` extension,
close reasons); tests/e2e/test_device_channel_limits.py covers the transport over real sockets."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from channels.testing import WebsocketCommunicator

from activation import admission
from activation.consumers import DeviceConsumer
from rps_site.serving import DEVICE_FRAME_LIMIT
from rps_site.vault import SecretStore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def envelope(method: str, payload: object, **extra: object) -> str:
    return json.dumps(
        {
            "method": method,
            "apiKey": "key",
            "appVersion": "2.52.0",
            "protocolVersion": "4.0.0",
            "status": "ok",
            "message": "ok",
            "payload": payload,
            "tenantId": "",
            **extra,
        }
    )


def activation_payload(device_uuid: str) -> str:
    payload = {
        "ver": "16.1.25",
        "build": "2176",
        "sku": "16392",
        "features": "AMT Pro Corporate",
        "uuid": device_uuid,
        "username": "$$OsAdmin",
        "password": "local-system-password",
        "currentMode": 0,
        "hostname": "pc",
        "fqdn": "vprodemo.com",
        "client": "RPC",
        "certHashes": [],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


async def connect(*headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(DeviceConsumer.as_asgi(), "/activate", headers=list(headers))
    communicator.scope.update(asgi={"version": "3.0", "spec_version": "2.3"}, extensions={"tls": {}})
    connected, _ = await communicator.connect()
    return communicator, connected


async def terminal(communicator: WebsocketCommunicator) -> dict:
    message = json.loads(await communicator.receive_from(timeout=10))
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    return message


@pytest.fixture(autouse=True)
def fresh_limits_and_short_grace(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(admission, "limits", admission.InProcessAdmission())
    settings.DEVICE_CLOSE_GRACE_SECONDS = 0.2


async def test_after_the_terminal_message_the_client_may_close_and_late_frames_are_ignored(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_CLOSE_GRACE_SECONDS = 5
    communicator, _ = await connect()
    await communicator.send_to(text_data="{not json")
    message = json.loads(await communicator.receive_from(timeout=5))
    assert message["method"] == "error"
    await communicator.send_to(text_data="{still not json")  # ignored: no second answer
    assert await communicator.receive_nothing(timeout=0.5)
    await communicator.disconnect()  # the client closes first, as rpc-go does


async def test_no_origin_is_accepted_and_a_foreign_origin_is_refused() -> None:
    communicator, connected = await connect()
    assert connected
    await communicator.disconnect()
    _, connected = await connect((b"origin", b"https://evil.example"))
    assert not connected


async def test_oversize_frame_closes_the_socket() -> None:
    communicator, _ = await connect()
    await communicator.send_to(text_data="x" * (DEVICE_FRAME_LIMIT + 1))
    closing = await communicator.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": 1009, "reason": "frame too big"}


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        json.dumps([1, 2, 3]),
        envelope("activate -u wss://x -profile p", "%%%not-base64%%%"),
        envelope("dance", "e30="),
        envelope("activate -u wss://x -profile p", base64.b64encode(b"not json").decode()),
    ],
    ids=["garbage-json", "not-an-object", "bad-base64", "unknown-method", "payload-not-json"],
)
async def test_garbage_gets_a_clear_error(frame: str, vault: SecretStore) -> None:
    before = vault.list_keys("devices")
    communicator, _ = await connect()
    await communicator.send_to(text_data=frame)
    message = await terminal(communicator)
    assert message["method"] == "error" and message["status"] == "failed"
    assert message["message"]
    assert vault.list_keys("devices") == before


async def test_response_before_any_request_is_refused() -> None:
    communicator, _ = await connect()
    http = base64.b64encode(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").decode()
    await communicator.send_to(text_data=envelope("response", http))
    message = await terminal(communicator)
    assert message["method"] == "error"
    assert "before any request" in message["message"]


@pytest.mark.parametrize(
    "hostile",
    ["../../profiles/victim-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000", "a" * 36],
    ids=["path-walk", "placeholder", "not-a-guid"],
)
async def test_hostile_guids_are_refused_without_touching_vault(hostile: str, vault: SecretStore) -> None:
    before = vault.list_keys("devices")
    communicator, _ = await connect()
    await communicator.send_to(text_data=envelope("activate -u wss://x -profile p", activation_payload(hostile)))
    message = await terminal(communicator)
    assert message["method"] == "error"
    assert vault.list_keys("devices") == before


async def test_out_of_range_current_mode_is_refused(vault: SecretStore) -> None:
    payload = json.loads(base64.b64decode(activation_payload(str(uuid.uuid4()))))
    payload["currentMode"] = 7
    communicator, _ = await connect()
    await communicator.send_to(
        text_data=envelope("activate -u wss://x -profile p", base64.b64encode(json.dumps(payload).encode()).decode())
    )
    message = await terminal(communicator)
    assert message["method"] == "error"


async def test_connections_are_rate_limited_per_address(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_CONNECTIONS_PER_MINUTE = 2
    for _ in range(2):
        communicator, connected = await connect()
        assert connected
        await communicator.disconnect()
    communicator, _ = await connect()
    closing = await communicator.receive_output(timeout=5)
    assert closing == {
        "type": "websocket.close",
        "code": 1013,
        "reason": "too many device connections from this address (at most 2 a minute)",
    }
