"""Draining (rps_site.serve): a rolling restart of every worker under load fails no activation and no
API request; a session still running when the drain deadline passes ends with a reason its client
shows and its run records."""

from __future__ import annotations

import asyncio
import json
import re
import secrets as random_source
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from activation.enterprise_assistant import PEAP_MSCHAPV2, EnterpriseAssistantExchange
from amtsim import DeviceIdentity, Fault, RpcResult, VirtualAmtDevice, run_rpc, serve_device
from amtsim.enterprise_assistant import running_enterprise_assistant
from tests.cluster.conftest import Cluster, create_ccm_profile, running_cluster

pytestmark = pytest.mark.cluster

DRAIN_SECONDS = 8
DEVICES_AT_ONCE = 12
EA_TENANT = "drain-ea"
EA_USER, EA_PASSWORD = "ea-drain", "ea-drain-password-" + random_source.token_hex(8)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    settings = {
        # An activation takes some 4 s, longer than a draining worker keeps listening (1 s), so
        # each drain has sessions left to finish; and HAProxy, which needs up to 2 s to count a
        # draining worker down, meets a closed port meanwhile and must send those connections to
        # the other worker.
        "RPS_DELAY_TIMER": "3",
        "RPS_DRAIN_NOTICE": "1",
        "RPS_RETRY_DELAY": "0",
        "RPS_WSMAN_TIMEOUT": "30",
        "RPS_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "RPS_EA_ACCOUNTS": json.dumps({EA_USER: {"password": EA_PASSWORD, "tenant": EA_TENANT}}),
    }
    arguments = [f"--env={name}={value}" for name, value in settings.items()]
    with running_cluster(tmp_path_factory.mktemp("cluster") / "state", *arguments) as running:
        yield running


async def activate(cluster: Cluster, profile: str, device: VirtualAmtDevice) -> RpcResult:
    argv = ["activate", "-u", cluster.wss, "-profile", profile, "-cafile", str(cluster.ca_file)]
    async with serve_device(device) as endpoint:
        return await run_rpc(argv, device_endpoint=endpoint)


async def restart_every_worker(cluster: Cluster) -> None:
    restart = await asyncio.create_subprocess_exec(*cluster.cluster_command("restart", "--wait", "60"))
    assert await restart.wait() == 0


def sessions_left_at_listener_close(cluster: Cluster, port: int) -> list[int]:
    """For each drain of the worker on `port`: how much work it still held when it stopped listening."""
    log = cluster.log(f"worker-{port}.log")
    return [int(count) for count in re.findall(r"stopped listening; (\d+) sessions", log)]


async def test_a_rolling_restart_under_load_fails_nothing(cluster: Cluster) -> None:
    profile = create_ccm_profile(cluster)
    pids_before = {worker["pid"] for worker in cluster.description["workers"]}
    stop = asyncio.Event()
    results: list[RpcResult] = []
    api_statuses: Counter[int | str] = Counter()
    health_seen: dict[int, set[int | str]] = {port: set() for port in cluster.worker_ports}

    async def devices() -> None:
        while not stop.is_set():
            results.append(await activate(cluster, profile, VirtualAmtDevice(DeviceIdentity())))

    async def api_reads() -> None:
        async with httpx.AsyncClient(
            base_url=f"{cluster.https}/api/v1/admin",
            verify=cluster.ssl_context(),
            headers={"Authorization": f"Bearer {cluster.token()}"},
            timeout=30,
        ) as api:
            while not stop.is_set():
                try:
                    api_statuses[(await api.get("/profiles")).status_code] += 1
                except httpx.HTTPError as error:
                    api_statuses[type(error).__name__] += 1
                await asyncio.sleep(0.05)

    async def health_checks() -> None:
        async with httpx.AsyncClient(timeout=2) as probe:
            while not stop.is_set():
                for port in cluster.worker_ports:
                    try:
                        health_seen[port].add((await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code)
                    except httpx.HTTPError:
                        health_seen[port].add("refused")
                await asyncio.sleep(0.1)

    load = [asyncio.create_task(devices()) for _ in range(DEVICES_AT_ONCE)]
    load += [asyncio.create_task(api_reads()) for _ in range(2)]
    load.append(asyncio.create_task(health_checks()))
    await asyncio.sleep(3)  # sessions running on both workers
    await restart_every_worker(cluster)
    await asyncio.sleep(2)  # and on the new ones
    stop.set()
    await asyncio.gather(*load)

    failures = Counter(result.error or result.status_text for result in results if result.exit_code != 0)
    assert failures == Counter() and len(results) >= 2 * DEVICES_AT_ONCE
    assert set(api_statuses) == {200}, api_statuses
    for port, seen in health_seen.items():
        assert {200, 503} <= seen, (port, seen)  # each worker said it was draining before it went
    for port in cluster.worker_ports:
        assert sessions_left_at_listener_close(cluster, port)[0] > 0, port
    status = await asyncio.create_subprocess_exec(
        *cluster.cluster_command("status", "--json"), stdout=asyncio.subprocess.PIPE
    )
    described, _ = await status.communicate()
    assert status.returncode == 0  # every new worker up in HAProxy, no old one still draining
    now = json.loads(described)
    assert now["draining"] == [] and not pids_before & {worker["pid"] for worker in now["workers"]}
    runs = cluster.psql("select outcome, count(*) from devices_provisioningrun group by outcome")
    assert runs == [["success", str(len(results))]]


async def test_a_session_past_the_drain_deadline_ends_with_the_reason(cluster: Cluster) -> None:
    profile = create_ccm_profile(cluster)
    device = VirtualAmtDevice(DeviceIdentity())
    device.faults.add(Fault.slow(call="AMT_GeneralSettings.Get", seconds=4 * DRAIN_SECONDS))
    session = asyncio.create_task(activate(cluster, profile, device))
    await asyncio.sleep(1.5)
    assert not session.done()
    await restart_every_worker(cluster)
    result = await asyncio.wait_for(session, 30)
    assert (result.exit_code, result.status_text) == (
        1,
        "Failed: the server shut down before the session ended; try again",
    )
    guid = device.identity.uuid
    assert cluster.psql(
        "select r.outcome, r.failure_cause from devices_provisioningrun r"
        f" join devices_device d on d.id = r.device_id where d.guid = '{guid}'"
    ) == [["failure", f"server shut down: its drain deadline of {DRAIN_SECONDS} s passed"]]


async def test_an_enterprise_assistant_moves_to_another_worker_and_does_not_hold_the_drain(cluster: Cluster) -> None:
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[cluster.description["redis_url"]])
    url = cluster.wss.replace("/activate", "/ea")
    credentials = (EA_USER, EA_PASSWORD)
    try:
        async with running_enterprise_assistant(url, credentials=credentials, ssl_context=cluster.ssl_context()) as ea:
            await restart_every_worker(cluster)
            await ea.wait_connected(timeout=15)
            exchange = EnterpriseAssistantExchange(
                tenant_id=EA_TENANT, device_name="desktop-01", timeout=10, channel_layer=layer
            )
            account = (await exchange.request_profile(auth_protocol=PEAP_MSCHAPV2)).account
            assert ea.connections >= 2  # closed by the worker that held it (1012), reconnected through HAProxy
            assert account is not None and account.username == ea.accounts[-1].username
    finally:
        await layer.close_pools()
    drains = [
        float(seconds)
        for port in cluster.worker_ports
        for seconds in re.findall(r"drained in ([\d.]+) s", cluster.log(f"worker-{port}.log"))[-1:]
    ]
    assert len(drains) == 2 and max(drains) < DRAIN_SECONDS  # nobody waited for the EA's socket
