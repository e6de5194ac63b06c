"""Load mode and the command line, against the scripted RPS."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from amtsim import FACTORY_ROOT_HASHES, DeviceIdentity, Fault, VirtualAmtDevice
from amtsim.load import LoadReport, run_load
from tests.amtsim.scripted_rps import scripted_rps
from tests.amtsim.test_rpc_client import ccm_activation

REPOSITORY = Path(__file__).resolve().parents[2]


async def test_load_reports_throughput_latency_and_failures() -> None:
    def break_every_third(device: VirtualAmtDevice) -> None:
        if device.identity.hostname.endswith(("0", "3")):
            device.faults.add(Fault.return_value(call="IPS_HostBasedSetupService.Setup", value=1))

    async with scripted_rps(ccm_activation) as rps:
        report = await run_load(
            rpc_args=["activate", "-u", rps.url, "-profile", "p"],
            devices=6,
            concurrency=3,
            identity_factory=lambda index: DeviceIdentity(hostname=f"load-{index}"),
            device_setup=break_every_third,
        )
    assert (report.devices, report.succeeded, report.failed) == (6, 4, 2)
    assert report.failures == {"error: Failed to activate in client control mode.": 2}
    assert report.activations_per_second > 0
    data = report.as_dict()
    latency = data["latency_seconds"]
    assert isinstance(latency, dict) and latency["p50"] is not None
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    assert "2 × error: Failed to activate" in report.render()


def test_percentiles_use_nearest_rank() -> None:
    report = LoadReport(devices=4, succeeded=4, failed=0, elapsed_seconds=2.0, latencies=[4.0, 1.0, 3.0, 2.0])
    assert (report.percentile(0.5), report.percentile(0.95), report.percentile(0.99)) == (2.0, 4.0, 4.0)
    assert report.activations_per_second == 2.0


async def test_device_and_rpc_commands_across_processes() -> None:
    device_process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "amtsim",
        "device",
        "--hostname-prefix",
        "cli-",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPOSITORY,
    )
    try:
        assert device_process.stdout is not None
        announced = json.loads(await asyncio.wait_for(device_process.stdout.readline(), 20))
        async with scripted_rps(ccm_activation) as rps:
            rpc_process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "amtsim",
                "rpc",
                "--device",
                f"{announced['host']}:{announced['http_port']}",
                "activate",
                "-u",
                rps.url,
                "-profile",
                "p",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=REPOSITORY,
            )
            output, _errors = await asyncio.wait_for(rpc_process.communicate(), 30)
        assert rpc_process.returncode == 0
        assert json.loads(output)["Status"] == "Client control mode."
        payload = rps.conversations[0].device_payload
        assert payload["uuid"] == announced["uuid"]
        assert payload["hostname"] == "cli-0000"
        assert payload["username"] == "$$OsAdmin"
        assert payload["certHashes"] == list(FACTORY_ROOT_HASHES)  # the factory list, as on hardware
    finally:
        device_process.terminate()
        await device_process.wait()
