"""Device events on a real mosquitto from a served RPS: upstream's activation event with the GUID,
the configuration and deactivation events beyond upstream; with the broker stopped, activations
and the API go on and the drop counter (scraped over HTTPS) moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from amtsim import DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from rps_site.openbao_dev import DevVault
from rps_site.vault import device_path
from tests.e2e.conftest import RpsServer, create_ccm_profile, rps_workers, unique
from tests.e2e.test_ccm_activation import activate
from tests.e2e.test_metrics import METRICS_TOKEN, samples, value
from tests.mosquitto import Mosquitto, Subscriber, running_mosquitto


@dataclass
class Served:
    rps: RpsServer
    broker: Mosquitto


@pytest.fixture(scope="module")
def served(dev_vault: DevVault, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("rps-mqtt")
    with (
        running_mosquitto(work) as broker,
        rps_workers(
            dev_vault, work, RPS_MQTT_URL=broker.url, RPS_MQTT_QUEUE_SIZE="5", RPS_METRICS_TOKEN=METRICS_TOKEN
        ) as (rps,),
    ):
        yield Served(rps, broker)


def device_events(received: list[dict[str, object]], guid: str) -> list[tuple[object, object, object]]:
    return [(event["type"], event["methods"], event["message"]) for event in received if event.get("guid") == guid]


async def test_an_activation_and_a_deactivation_publish_their_device_events(served: Served) -> None:
    rps = served.rps
    subscriber = Subscriber(served.broker.port)
    profile = create_ccm_profile(rps)
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
    guid = device.identity.uuid.lower()
    result, _ = await activate(rps, device, profile)
    assert result.exit_code == 0, result.message
    async with serve_device(device) as endpoint:
        stored = rps.vault_store().read(device_path(guid))
        assert stored is not None
        password = stored.values["AMT_PASSWORD"].reveal()
        deactivated = await run_rpc(
            ["deactivate", "-u", rps.wss_url, "-password", password, "-cafile", str(rps.ca_file)],
            device_endpoint=endpoint,
        )
        assert deactivated.exit_code == 0, deactivated.message

    deactivation = ("success", ["Deactivator"], "Device deactivated.")
    received = subscriber.wait_until(lambda messages: deactivation in device_events(messages, guid))
    subscriber.stop()
    assert received[0] == {
        "type": "success",
        "message": f"Created Profile : {profile}",
        "methods": ["createProfile"],
        "timestamp": received[0]["timestamp"],
    }
    events = device_events(received, guid)
    assert events[0] == ("success", ["Activator", "execute"], "Device activated in Client control mode.")
    assert events[-1] == ("success", ["Deactivator"], "Device deactivated."), [
        (e["methods"], e["message"]) for e in received
    ]
    assert all(methods[0] in {"Activator", "Configurator", "Deactivator"} for _, methods, _ in events)  # type: ignore[index]
    assert sum(1 for _, methods, _ in events if methods == ["Activator", "execute"]) == 1


async def test_with_the_broker_down_activations_and_the_api_go_on_and_drops_are_counted(served: Served) -> None:
    rps = served.rps
    dropped_before = value(samples(rps), "rps_mqtt_events_dropped_total")
    served.broker.stop()
    try:
        profile = create_ccm_profile(rps)
        with rps.api() as api:
            for _ in range(3):
                assert api.get(f"/profiles/{profile}").status_code == 200
        device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
        result, _ = await activate(rps, device, profile)
        assert result.exit_code == 0, result.message
        dropped = value(samples(rps), "rps_mqtt_events_dropped_total") - dropped_before
        assert dropped >= 1, "a queue of 5 cannot hold the profile's events and the activation's"
    finally:
        served.broker.start()
