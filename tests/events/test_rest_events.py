"""REST events on a real mosquitto: upstream's texts, in order, nothing for validation errors;
with the broker down the API answers at once, the queue keeps the newest events and the drop
counter counts the others, which arrive in order with their first timestamps once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from events.config import mqtt_settings
from events.publisher import stop_publishers
from profiles.models import ProxyConfig
from rps_site.vault import SecretStore
from tests.mosquitto import Mosquitto, Subscriber, running_mosquitto
from tests.portal_sessions import role_session
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import proxy_body, wireless_body

API = "/api/v1/admin"
pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with running_mosquitto(tmp_path) as mosquitto:
        yield mosquitto


@pytest.fixture
def events_to(settings: Any) -> Iterator[Any]:
    def point_at(broker: Mosquitto, **options: Any) -> None:
        settings.MQTT = mqtt_settings(broker.url, **options)

    yield point_at
    stop_publishers()


def dropped() -> float:
    return REGISTRY.get_sample_value("rps_mqtt_events_dropped_total") or 0.0


def test_rest_calls_publish_upstreams_events_in_order(broker: Mosquitto, events_to: Any, vault: SecretStore) -> None:
    events_to(broker)
    subscriber = Subscriber(broker.port)
    api = client_for("")
    name = unique_name("Proxy")
    started = int(time.time() * 1000)
    assert api.post(f"{API}/proxyconfigs", proxy_body(name), format="json").status_code == 201
    assert api.post(f"{API}/proxyconfigs", proxy_body(unique_name(), port="x"), format="json").status_code == 400
    assert api.post(f"{API}/proxyconfigs", "name=x", content_type="text/plain").status_code == 415
    assert api.patch(f"{API}/domains", b"{not json", content_type="application/json").status_code == 400
    assert api.get(f"{API}/proxyconfigs/{name}").status_code == 200
    assert api.patch(f"{API}/proxyconfigs", proxy_body(name, port=8080), format="json").status_code == 200
    assert api.get(f"{API}/proxyconfigs").status_code == 200
    assert api.delete(f"{API}/proxyconfigs/{name}").status_code == 204
    assert api.delete(f"{API}/proxyconfigs/{name}").status_code == 404
    wifi = unique_name("wifi")
    assert api.post(f"{API}/wirelessconfigs", wireless_body(wifi), format="json").status_code == 201
    assert api.post(f"{API}/wirelessconfigs", wireless_body(wifi), format="json").status_code == 400
    assert api.get(f"{API}/domains/nosuch").status_code == 404
    assert role_session(ProxyConfig, "nothing").get(f"{API}/proxyconfigs").status_code == 403
    assert api.get(f"{API}/profiles/export/nosuch").status_code == 403, "export needs RPS_EXPORT_VIA_JWT"

    expected = [
        ("success", ["createProxyConfigs"], f"Created proxy profile: {name}"),
        ("success", ["getProxyProfile"], f"Sent Profile : {name}"),
        ("success", ["editProxyConfig"], f"Updated proxy configuration : {name}"),
        ("success", ["allProxyConfigs"], "Sent proxy configs"),
        ("success", ["deleteProxyProfile"], f"Deleted proxy configuration : {name}"),
        ("fail", ["/api/v1/admin/proxyconfigs"], "Failed to DELETE: deleteProxyProfile"),
        ("success", ["createWirelessProfiles"], f"Created wireless profile : {wifi}"),
        ("fail", ["/api/v1/admin/wirelessconfigs"], "Failed to POST: wirelessConfig.profileName"),
        ("fail", ["/api/v1/admin/domains"], "Failed to GET: nosuch"),
    ]
    received = subscriber.wait_for(len(expected) + 1, timeout=3)  # one more would be one too many
    subscriber.stop()
    assert [(event["type"], event["methods"], event["message"]) for event in received] == expected
    for event, raw in zip(received, subscriber.raw, strict=True):
        assert list(event) == ["type", "message", "methods", "timestamp"], "no guid key on REST events"
        assert started <= event["timestamp"] <= int(time.time() * 1000)
        assert b": " not in raw.replace(b"Profile : ", b"").replace(b"configuration : ", b"").replace(
            b"profile : ", b""
        ).replace(b"profile: ", b"").replace(b"GET: ", b"").replace(b"POST: ", b"").replace(b"DELETE: ", b""), (
            "compact JSON"
        )


def test_a_broker_that_is_down_blocks_nothing_and_drops_the_oldest(
    broker: Mosquitto, events_to: Any, vault: SecretStore
) -> None:
    """The publisher's thread holds the event it waits to send; the queue keeps the 3 newest."""
    events_to(broker, queue_size=3)
    broker.stop()
    before = dropped()
    api = client_for("")
    names = [unique_name("down") for _ in range(6)]
    for name in names:
        started = time.monotonic()
        assert api.get(f"{API}/domains/{name}").status_code == 404
        assert time.monotonic() - started < 2, "the API never waits for the broker"
    time.sleep(0.5)
    lost = dropped() - before
    assert lost >= 2, "a queue of 3 (and one event in hand) cannot hold 6"

    broker.start()
    subscriber = Subscriber(broker.port)
    received = subscriber.wait_for(6 - int(lost), timeout=20)
    subscriber.stop()
    messages = [event["message"] for event in received]
    sent = [f"Failed to GET: {name}" for name in names]
    assert len(messages) == 6 - lost and messages[-3:] == sent[-3:], "the queue kept the newest events"
    assert messages == [text for text in sent if text in messages], "in the order they were made"
    assert received == sorted(received, key=lambda event: event["timestamp"]), "with the time they were made"
