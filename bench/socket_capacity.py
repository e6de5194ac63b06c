"""How many device sockets one worker holds, and what each costs in memory.

    .venv/bin/python bench/socket_capacity.py [--idle 1000] [--active 200]

`scripts/cluster.sh up --workers 1` (HAProxy terminating TLS, one daphne worker), then, after 20
warm-up activations:

1. `--idle` WSS sockets through HAProxy that send nothing (a device client that connected and has
   not sent its request yet; the first-frame timeout raised so they stay): the worker's and
   HAProxy's resident memory before and after, per socket; whether every socket is still open
   and how fast the worker answers its health check and an API call meanwhile.
2. `--active` device sessions on top of them, each waiting on its device (an amtsim device slow
   to answer AMT_GeneralSettings.Get: the run recorded, the plan resolved, the WS-Man session
   open): memory per active session.

Resident size (VmRSS) after a full collection has settled; the deltas are what the sockets hold,
Python's allocator keeping what it took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from amtsim import DeviceIdentity, Fault, RpcResult, VirtualAmtDevice, run_rpc, serve_device  # noqa: E402
from bench.cluster_bench import cluster, post_profile, resident_mib  # noqa: E402

HOLD_SECONDS = 600.0
SETTLE_SECONDS = 3.0


async def activate(description: dict[str, Any], profile: str, device: VirtualAmtDevice) -> RpcResult:
    argv = ["activate", "-u", description["wss"], "-profile", profile, "-cafile", description["ca_file"]]
    async with serve_device(device) as endpoint:
        return await run_rpc(argv, device_endpoint=endpoint, first_byte_timeout=HOLD_SECONDS)


async def probe_latency_ms(description: dict[str, Any], token: str, context: ssl.SSLContext) -> tuple[float, float]:
    """The worker's health check (direct) and GET /version through HAProxy, in ms."""
    async with httpx.AsyncClient(timeout=30) as direct:
        started = time.monotonic()
        assert (await direct.get(f"{description['workers'][0]['url']}/healthz")).status_code == 200
        health = 1000 * (time.monotonic() - started)
    async with httpx.AsyncClient(verify=context, timeout=30) as api:
        started = time.monotonic()
        answer = await api.get(
            f"{description['https']}/api/v1/admin/version", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.status_code
        version = 1000 * (time.monotonic() - started)
    return health, version


def kib(mib: float, count: int) -> str:
    return f"{1024 * mib / count:.1f}"


def memory(description: dict[str, Any]) -> tuple[float, float]:
    return resident_mib(description["workers"][0]["pid"]), resident_mib(description["processes"]["haproxy"])


async def measure(description: dict[str, Any], idle: int, active: int) -> None:
    token = Path(description["token_file"]).read_text().strip()
    context = ssl.create_default_context(cafile=description["ca_file"])
    profile = "capacity-ccm"
    post_profile(description["https"], token, profile, context)
    warm = await asyncio.gather(
        *(activate(description, profile, VirtualAmtDevice(DeviceIdentity())) for _ in range(20))
    )
    assert all(result.exit_code == 0 for result in warm), [result.error for result in warm if result.exit_code]
    await asyncio.sleep(SETTLE_SECONDS)
    worker0, proxy0 = memory(description)
    health, version = await probe_latency_ms(description, token, context)
    print(f"after warm-up: worker {worker0:.1f} MiB, HAProxy {proxy0:.1f} MiB")
    print(f"health check {health:.1f} ms, GET /version through HAProxy {version:.1f} ms")

    started = time.monotonic()
    sockets = []
    for batch in range(0, idle, 100):
        sockets += await asyncio.gather(
            *(websockets.connect(description["wss"], ssl=context, max_size=None) for _ in range(min(100, idle - batch)))
        )
    opened = time.monotonic() - started
    await asyncio.sleep(SETTLE_SECONDS)
    worker1, proxy1 = memory(description)
    health, version = await probe_latency_ms(description, token, context)
    still_open = sum(1 for socket in sockets if socket.close_code is None)
    print(f"\n{idle} idle WSS sockets through HAProxy opened in {opened:.1f} s; {still_open} still open")
    print(f"worker {worker1:.1f} MiB (+{worker1 - worker0:.1f}), HAProxy {proxy1:.1f} MiB (+{proxy1 - proxy0:.1f})")
    print(f"per idle socket: worker {kib(worker1 - worker0, idle)} KiB, HAProxy {kib(proxy1 - proxy0, idle)} KiB")
    print(f"meanwhile: health check {health:.1f} ms, GET /version through HAProxy {version:.1f} ms")

    devices = [VirtualAmtDevice(DeviceIdentity()) for _ in range(active)]
    for device in devices:
        device.faults.add(Fault.slow(call="AMT_GeneralSettings.Get", seconds=HOLD_SECONDS))
    sessions = [asyncio.create_task(activate(description, profile, device)) for device in devices]
    await asyncio.sleep(max(10.0, active / 20))
    worker2, proxy2 = memory(description)
    print(f"\n{active} active sessions (each waiting on its device) beside them")
    print(f"worker {worker2:.1f} MiB (+{worker2 - worker1:.1f}), HAProxy {proxy2:.1f} MiB (+{proxy2 - proxy1:.1f})")
    print(
        f"per active session: worker {kib(worker2 - worker1, active)} KiB, HAProxy {kib(proxy2 - proxy1, active)} KiB"
    )
    done = sum(session.done() for session in sessions)
    still_open = sum(1 for socket in sockets if socket.close_code is None)
    print(f"sessions ended early: {done}; idle sockets still open: {still_open}")
    # The slow devices' answers are cancelled mid-sleep: nothing to report about them.
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    for session in sessions:
        session.cancel()
    await asyncio.gather(*sessions, return_exceptions=True)
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--active", type=int, default=200)
    args = parser.parse_args()
    total = args.idle + args.active + 100
    settings = {
        "RPS_DELAY_TIMER": "0",
        "RPS_RETRY_DELAY": "0",
        "RPS_WSMAN_TIMEOUT": str(HOLD_SECONDS),
        "RPS_DEVICE_FIRST_FRAME_TIMEOUT": str(HOLD_SECONDS),
        # Every socket comes from 127.0.0.1 here.
        "RPS_DEVICE_SOCKETS_PER_ADDRESS": str(total),
        "RPS_DEVICE_CONNECTIONS_PER_MINUTE": str(4 * total),
    }
    work = Path(tempfile.mkdtemp(prefix="rps-capacity-"))
    with cluster(work / "state", 1, settings) as description:
        print(f"load average before: {os.getloadavg()}")
        asyncio.run(measure(description, args.idle, args.active))
        print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
