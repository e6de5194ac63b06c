"""Load mode: N virtual devices activated at once against one server, for sizing an RPS.

Every device gets its own listener on an ephemeral port and its own rpc client run; a
semaphore caps how many sessions are open at once. The report gives activations per
second, latency percentiles of the successful sessions, and failures grouped by reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from amtsim.device import FACTORY_ROOT_HASHES, DeviceIdentity, VirtualAmtDevice, serve_device
from amtsim.rpc import RpcResult, run_rpc


@dataclass
class LoadReport:
    devices: int
    succeeded: int
    failed: int
    elapsed_seconds: float
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def activations_per_second(self) -> float:
        return self.succeeded / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile of the successful sessions' latencies."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]

    def as_dict(self) -> dict[str, object]:
        return {
            "devices": self.devices,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "activations_per_second": round(self.activations_per_second, 3),
            "latency_seconds": {
                name: None if value is None else round(value, 3)
                for name, value in (
                    ("p50", self.percentile(0.50)),
                    ("p95", self.percentile(0.95)),
                    ("p99", self.percentile(0.99)),
                )
            },
            "failures": dict(self.failures.most_common()),
        }

    def render(self) -> str:
        data = self.as_dict()
        latency = data["latency_seconds"]
        assert isinstance(latency, dict)
        lines = [
            f"devices: {self.devices}  succeeded: {self.succeeded}  failed: {self.failed}",
            f"elapsed: {self.elapsed_seconds:.2f} s  activations/s: {self.activations_per_second:.2f}",
            "latency (s): " + "  ".join(f"{name} {value}" for name, value in latency.items()),
        ]
        lines += [f"  {count} × {reason}" for reason, count in self.failures.most_common()]
        return "\n".join(lines)


def failure_reason(result: RpcResult) -> str:
    if result.outcome == "error":
        return f"error: {result.status_text}"
    return result.error or "no terminal message"


async def run_load(
    *,
    rpc_args: list[str],
    devices: int,
    concurrency: int,
    identity_factory: Callable[[int], DeviceIdentity],
    device_setup: Callable[[VirtualAmtDevice], None] | None = None,
    session_timeout: float = 300.0,
) -> LoadReport:
    """Run ``rpc_args`` (an rpc-go command line) once per device, ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)
    results: list[RpcResult] = []

    async def one(index: int) -> None:
        device = VirtualAmtDevice(identity_factory(index))
        if device_setup is not None:
            device_setup(device)
        async with limit, serve_device(device) as endpoint:
            try:
                result = await asyncio.wait_for(run_rpc(list(rpc_args), device_endpoint=endpoint), session_timeout)
            except TimeoutError:
                result = RpcResult(
                    exit_code=2, outcome=None, error="session timed out", elapsed_seconds=session_timeout
                )
            results.append(result)

    started = time.monotonic()
    await asyncio.gather(*(one(index) for index in range(devices)))
    elapsed = time.monotonic() - started
    report = LoadReport(devices=devices, succeeded=0, failed=0, elapsed_seconds=elapsed)
    for result in results:
        if result.exit_code == 0:
            report.succeeded += 1
            report.latencies.append(result.elapsed_seconds)
        else:
            report.failed += 1
            report.failures[failure_reason(result)] += 1
    return report


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=10, help="how many virtual devices to activate (default 10)")
    parser.add_argument("--concurrency", type=int, default=10, help="how many run at once (default 10)")
    parser.add_argument("--amt-version", default="16.1.25", help="AMT version the devices report (default 16.1.25)")
    parser.add_argument("--dns-suffix", default="vprodemo.com", help="DNS suffix the devices report")
    parser.add_argument("--trust-hash", action="append", help="root hash the devices trust (ACM profiles)")
    parser.add_argument(
        "--session-timeout", type=float, default=300.0, help="seconds one session may take (default 300)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "rpc_args", nargs=argparse.REMAINDER, help="rpc-go command line, e.g. activate -u URL -profile P"
    )


async def run_load_command(args: argparse.Namespace) -> int:
    hashes = [*FACTORY_ROOT_HASHES, *(args.trust_hash or [])]

    def identity(index: int) -> DeviceIdentity:
        return DeviceIdentity(
            amt_version=args.amt_version,
            hostname=f"load-{index:05d}",
            dns_suffix=args.dns_suffix,
            trusted_root_hashes=hashes,
        )

    with contextlib.suppress(KeyboardInterrupt):
        report = await run_load(
            rpc_args=args.rpc_args,
            devices=args.devices,
            concurrency=args.concurrency,
            identity_factory=identity,
            session_timeout=args.session_timeout,
        )
        print(json.dumps(report.as_dict(), indent=2) if args.json else report.render())
        return 0 if report.failed == 0 else 1
    return 130
