"""The pass-through variant (deploy/haproxy-passthrough.cfg.template): HAProxy forwards TCP, the
workers keep TLS (so they know a device came over TLS without trusting any header), and the
per-address device limits are HAProxy's, since the workers see every client as the proxy."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from amtsim import DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from tests.cluster.conftest import Cluster, create_ccm_profile, running_cluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster") / "state",
        "--tls-at=worker",
        "--env=RPS_DEVICE_SOCKETS_PER_ADDRESS=3",
        "--env=RPS_DELAY_TIMER=0",
    ) as running:
        yield running


async def test_an_activation_passes_through_to_a_worker_holding_tls(cluster: Cluster) -> None:
    profile = create_ccm_profile(cluster)
    argv = ["activate", "-u", cluster.wss, "-profile", profile, "-cafile", str(cluster.ca_file)]
    async with serve_device(VirtualAmtDevice(DeviceIdentity())) as endpoint:
        result = await run_rpc(argv, device_endpoint=endpoint)
    assert (result.exit_code, result.status_text) == (0, "Client control mode.")
    assert cluster.settings()["RPS_DEVICE_SOCKETS_PER_ADDRESS"] == "1000000"  # the workers' own: out of the way
    assert "RPS_TRUST_PROXY_SSL_HEADER" not in cluster.settings()


async def test_haproxy_caps_the_sockets_of_one_address(cluster: Cluster) -> None:
    source = f"127.0.{random.randint(20, 250)}.{random.randint(20, 250)}"  # noqa: S311  (a test address)
    options = {"ssl": cluster.ssl_context(), "local_addr": (source, 0), "open_timeout": 10, "ping_interval": None}
    held = [await connect(cluster.wss, **options) for _ in range(3)]  # type: ignore[arg-type]
    with pytest.raises(ConnectionResetError):  # refused before TLS: `tcp-request connection reject`
        await connect(cluster.wss, **options)  # type: ignore[arg-type]
    await held[0].close()
    await asyncio.sleep(0.2)
    held[0] = await connect(cluster.wss, **options)  # type: ignore[arg-type]
    for socket in held:
        await socket.close()
