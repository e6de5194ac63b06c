"""A worker killed (SIGKILL) in the middle of 100 activations through HAProxy (devices.ownership):
its clients see the socket close, no session on the other worker fails, every device that was
sent Setup has its password in Vault, the killed clients' retries succeed through HAProxy, and the
worker started in its place marks the runs the dead one left in progress as interrupted."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Iterator

import pytest

from amtsim import ControlMode, DeviceIdentity, RpcResult, VirtualAmtDevice, run_rpc, serve_device
from rps_site.vault import device_path
from tests.cluster.conftest import Cluster, create_ccm_profile, running_cluster

pytestmark = pytest.mark.cluster

ACTIVATIONS = 100
STAGGER_SECONDS = 0.03  # 100 clients arrive over 3 s: the kill finds them at every step
SETTINGS = {
    # Setup is followed by this pause (the flows' delay timer): a kill finds sessions on either
    # side of it. Sweeps only when a worker starts, so the restarted worker is what marks the runs.
    "RPS_DELAY_TIMER": "2",
    "RPS_RETRY_DELAY": "0",
    "RPS_WSMAN_TIMEOUT": "30",
    "RPS_ORPHAN_SWEEP_SECONDS": "0",
    "RPS_DEVICE_SOCKETS_PER_ADDRESS": "1000",
    "RPS_DEVICE_CONNECTIONS_PER_MINUTE": "1000",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    arguments = [f"--env={name}={value}" for name, value in SETTINGS.items()]
    with running_cluster(tmp_path_factory.mktemp("cluster") / "state", *arguments) as running:
        yield running


async def activate(cluster: Cluster, profile: str, device: VirtualAmtDevice, *extra: str) -> RpcResult:
    argv = ["activate", "-u", cluster.wss, "-profile", profile, "-cafile", str(cluster.ca_file), *extra]
    async with serve_device(device) as endpoint:
        return await run_rpc(argv, device_endpoint=endpoint)


def runs_by_guid(cluster: Cluster) -> dict[str, list[tuple[str, str, str]]]:
    """Each device's runs, oldest first: (worker, outcome, failure cause)."""
    rows = cluster.psql(
        "select d.guid, r.worker, r.outcome, r.failure_cause from devices_provisioningrun r"
        " join devices_device d on d.id = r.device_id order by r.id"
    )
    runs: dict[str, list[tuple[str, str, str]]] = {}
    for guid, worker, outcome, cause in rows:
        runs.setdefault(guid, []).append((worker, outcome, cause))
    return runs


async def kill_when_setup_sent_on(cluster: Cluster, devices: list[VirtualAmtDevice], pid: int) -> None:
    """SIGKILL the worker `pid` once several of its sessions have sent Setup and not yet ended."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = runs_by_guid(cluster)
        running_there = [
            device
            for device in devices
            if (last := runs.get(device.identity.uuid, [("", "", "")])[-1])[1] == "in_progress"
            and f":{pid}:" in last[0]
        ]
        if sum(device.state.is_provisioned for device in running_there) >= 5 and len(running_there) >= 15:
            os.kill(pid, signal.SIGKILL)
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no moment with sessions on both sides of Setup on the worker")


def sent_setup_at(cluster: Cluster, guid: str) -> str:
    return cluster.psql(
        "select coalesce(max(r.secret_written_at)::text, '') from devices_provisioningrun r"
        f" join devices_device d on d.id = r.device_id where d.guid = '{guid}'"
    )[0][0]


async def test_a_worker_killed_mid_activation_loses_nothing(cluster: Cluster) -> None:
    profile = create_ccm_profile(cluster)
    victim, survivor = cluster.description["workers"]
    devices = [VirtualAmtDevice(DeviceIdentity()) for _ in range(ACTIVATIONS)]

    async def staggered(index: int, device: VirtualAmtDevice) -> RpcResult:
        await asyncio.sleep(index * STAGGER_SECONDS)
        return await activate(cluster, profile, device)

    sessions = [asyncio.create_task(staggered(index, device)) for index, device in enumerate(devices)]
    await kill_when_setup_sent_on(cluster, devices, victim["pid"])
    results = await asyncio.wait_for(asyncio.gather(*sessions), 120)

    runs = runs_by_guid(cluster)
    first_worker = [runs[device.identity.uuid][0][0] if device.identity.uuid in runs else "" for device in devices]
    on_survivor = [i for i, worker in enumerate(first_worker) if f":{survivor['pid']}:" in worker]
    # A session the kill ended before its run was recorded has none: it was on the victim too.
    on_victim = [i for i, worker in enumerate(first_worker) if i not in on_survivor]
    assert all(f":{victim['pid']}:" in first_worker[i] for i in on_victim if first_worker[i])
    assert on_survivor and on_victim
    # The survivor's sessions all succeeded; the victim's clients saw the socket close, or had
    # finished before the kill.
    assert [results[i].error for i in on_survivor if results[i].exit_code != 0] == []
    killed = [i for i in on_victim if results[i].exit_code != 0]
    # The socket closed under them (HAProxy closes the client side when the worker's goes), seen
    # while receiving or while sending; or, for one whose upgrade the victim had taken and not
    # answered yet, HAProxy's 502 (a connection the victim refused goes to the survivor).
    closed = {
        "rps connection closed unexpectedly",
        "connection failed: no close frame received or sent",
        "connection failed: server rejected WebSocket connection: HTTP 502",
    }
    assert killed and {results[i].error for i in killed} <= closed
    recorded = [devices[i].identity.uuid for i in killed if devices[i].identity.uuid in runs]
    assert all(runs[guid][0][1] == "in_progress" for guid in recorded)

    # Nothing half-written: every device that was sent Setup has its password in Vault.
    store = cluster.vault_store()
    sent_setup = [i for i in killed if devices[i].state.is_provisioned]
    assert sent_setup, "the kill found no session past Setup"
    for i in sent_setup:
        stored = store.read(device_path(devices[i].identity.uuid))
        assert stored is not None and devices[i].state.admin_password_matches(stored.values["AMT_PASSWORD"].reveal())

    # The killed clients try again through HAProxy: a device in client control mode with the
    # password stored for it (the already-activated path), any other as a first activation.
    async def retry(device: VirtualAmtDevice) -> RpcResult:
        if not device.state.is_provisioned:
            result = await activate(cluster, profile, device)
            if result.exit_code != 0 and "re-provisioning request was recorded" in result.message:
                # Killed with Setup on its way but not yet applied: the server cannot know the
                # device never got it, so its secret counts as in use until an admin releases it.
                assert sent_setup_at(cluster, device.identity.uuid)
                release = f"/devices/{device.identity.uuid}/release"
                assert (await asyncio.to_thread(cluster.api().post, release)).is_success
                result = await activate(cluster, profile, device)
            return result
        stored = store.read(device_path(device.identity.uuid))
        assert stored is not None
        return await activate(cluster, profile, device, "-password", stored.values["AMT_PASSWORD"].reveal())

    print(f"killed {len(killed)} sessions ({len(sent_setup)} past Setup) of {len(on_victim)} on the victim")
    retries = await asyncio.wait_for(asyncio.gather(*(retry(devices[i]) for i in killed)), 60)
    assert [(result.exit_code, result.error) for result in retries if result.exit_code != 0] == []
    assert all(devices[i].state.control_mode is ControlMode.CCM for i in killed)

    # The worker started in the dead one's place marks the runs it left in progress.
    restart = await asyncio.create_subprocess_exec(*cluster.cluster_command("restart", "--only", str(victim["port"])))
    assert await asyncio.wait_for(restart.wait(), 60) == 0
    assert cluster.psql("select count(*) from devices_provisioningrun where outcome = 'in_progress'") == [["0"]]
    interrupted = cluster.psql(
        "select failure_cause from devices_provisioningrun where failure_cause like 'interrupted:%' order by id"
    )
    assert len(interrupted) == len(recorded)
    cause = re.compile(
        rf"interrupted: its worker \S+:{victim['pid']}:\S+ stopped before the run ended \(found by worker \S+:\d+:\S+\)"
    )
    assert all(cause.fullmatch(row[0]) for row in interrupted), interrupted[:3]
    assert f"{len(recorded)} runs of dead workers marked interrupted" in cluster.log(f"worker-{victim['port']}.log")
