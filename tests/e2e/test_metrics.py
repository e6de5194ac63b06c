"""Metrics scraped over HTTPS from two workers sharing PROMETHEUS_MULTIPROC_DIR: a full activation
on one and API use on the other show up in the scrape of either, and nothing in it names a
device, a host or a record."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from amtsim import DeviceIdentity, VirtualAmtDevice
from rps_site.openbao_dev import DevVault
from tests.e2e.conftest import RpsServer, create_ccm_profile, rps_workers, unique
from tests.e2e.test_ccm_activation import activate

METRICS_TOKEN = "scrape-token-0123456789abcdef"


@pytest.fixture(scope="module")
def two_workers(dev_vault: DevVault, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RpsServer, ...]]:
    work = tmp_path_factory.mktemp("rps-metrics")
    with rps_workers(
        dev_vault,
        work,
        workers=2,
        RPS_METRICS_TOKEN=METRICS_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(work / "prometheus"),
    ) as workers:
        yield workers


def scrape(rps: RpsServer, token: str | None = METRICS_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verify = ssl.create_default_context(cafile=str(rps.ca_file))
    return httpx.get(f"https://127.0.0.1:{rps.port}/metrics", headers=headers, verify=verify, timeout=10)


def samples(rps: RpsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = scrape(rps)
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        sample
        for (sample_name, sample_labels), sample in found.items()
        if sample_name == name and set(labels.items()) <= set(sample_labels)
    )


def test_the_endpoint_needs_its_own_token(two_workers: tuple[RpsServer, ...]) -> None:
    first, _ = two_workers
    assert scrape(first, token=None).status_code == 401
    assert scrape(first, token="wrong").status_code == 401
    bearer_of_the_api = first.token("")
    assert scrape(first, token=bearer_of_the_api).status_code == 401, "an API token is not the scrape credential"


async def test_an_activation_and_api_use_on_two_workers_show_in_one_scrape(two_workers: tuple[RpsServer, ...]) -> None:
    first, second = two_workers
    before = samples(first)
    profile = create_ccm_profile(second)  # the API on the second worker
    with second.api() as api:
        assert api.get(f"/profiles/{profile}").status_code == 200
        assert api.get("/profiles/no-such-profile").status_code == 404
    device = VirtualAmtDevice(DeviceIdentity(hostname=unique("pc-")))
    result, _ = await activate(first, device, profile)  # the device on the first
    assert result.exit_code == 0, result.message

    after = samples(first)
    text = scrape(first).text

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("rps_device_sessions_total", action="activate", outcome="success") == 1
    assert grew("rps_device_session_duration_seconds_count", action="activate", outcome="success") == 1
    assert grew("rps_device_step_duration_seconds_count", outcome="success") >= 3
    assert grew("rps_wsman_round_trip_seconds_count", call="IPS_HostBasedSetupService.Setup") == 1
    assert grew("rps_wsman_round_trip_seconds_count") >= 5
    assert grew("rps_dependency_call_duration_seconds_count", service="vault", operation="write") >= 1
    assert grew("rps_dependency_call_duration_seconds_count", service="mps", operation="POST") >= 1
    assert value(after, "rps_device_sockets_open") >= 0
    route = "/api/v1/admin/profiles/{name}"
    assert grew("rps_http_requests_total", route=route, method="GET", status="200") == 1
    assert grew("rps_http_requests_total", route=route, method="GET", status="404") == 1
    assert grew("rps_http_requests_total", route="/api/v1/admin/profiles", method="POST", status="201") == 1
    # Labels never carry what a device or an admin named.
    for named in (profile, device.identity.uuid.lower(), device.identity.hostname, "no-such-profile"):
        assert named not in text


async def test_refused_device_connections_are_counted_by_cause(two_workers: tuple[RpsServer, ...]) -> None:
    first, _ = two_workers
    before = value(samples(first), "rps_device_connections_refused_total", cause="origin")
    context = ssl.create_default_context(cafile=str(first.ca_file))
    with pytest.raises(websockets.InvalidStatus, match="403"):
        async with websockets.connect(first.wss_url, ssl=context, origin="https://evil.example"):
            pass
    assert value(samples(first), "rps_device_connections_refused_total", cause="origin") == before + 1
