"""Activation benchmark: N virtual devices activating concurrently (CCM, timers 0) through one
daphne worker over WSS, with PostgreSQL, OpenBao and a recording MPS.

    .venv/bin/python bench/activation_bench.py [--devices 200] [--concurrency 200]

The load comes from amtsim in a separate process, so the server's CPU time (utime + stime of
the daphne process, from /proc) is the server's alone. Prints activations/s, latency
percentiles, failures, server CPU per activation and the worker's peak memory (VmHWM).
Issue #5's target: 0 failures and <= 15 ms of server CPU per activation.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as random_source
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rps_site.openbao_dev import free_port, start_dev_vault  # noqa: E402
from rps_site.serving import (  # noqa: E402
    daphne_command,
    local_server_environment,
    make_self_signed_certificate,
    run_manage,
)
from tests.mps_recorder import running_mps_recorder  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_py_spy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """py-spy recording a process's Python stacks (collapsed, with native threads' GIL time)."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            output,
            "--rate",
            "200",
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_load(
    devices: int, concurrency: int, *, port: int, profile: str, certificate: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "amtsim",
            "load",
            "--devices",
            str(devices),
            "--concurrency",
            str(concurrency),
            "--json",
            "activate",
            "-u",
            f"wss://127.0.0.1:{port}/activate",
            "-profile",
            profile,
            "-cafile",
            str(certificate),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument(
        "--warmup", type=int, default=20, help="activations run before measuring (0: measure from a cold start)"
    )
    parser.add_argument("--py-spy", metavar="FILE", help="also record the server with py-spy (collapsed stacks)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rps-activation-bench-"))
    vault = start_dev_vault()
    database = f"rps_bench_{random_source.token_hex(4)}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    certificate, key = make_self_signed_certificate(work / "tls")
    port = free_port()
    server = None
    with running_mps_recorder() as mps:
        environment = local_server_environment(
            vault_addr=vault.addr,
            vault_token=vault.rps_token(),
            database_url=f"postgres://postgres@127.0.0.1:5432/{database}",
            RPS_MPS_URL=mps.url,
            RPS_DELAY_TIMER="0",
            RPS_RETRY_DELAY="0",
            RPS_DEVICE_CONNECTIONS_PER_MINUTE=str(max(600, args.devices * 2)),
            RPS_DEVICE_SOCKETS_PER_ADDRESS=str(max(100, args.concurrency)),  # every device is 127.0.0.1 here
        )
        try:
            run_manage(environment, "migrate", "--noinput", "-v", "0")
            token = run_manage(environment, "rps_token")
            command = daphne_command(port=port, tls=(certificate, key))
            command[-1:-1] = ["--access-log", os.devnull]
            server_log = open(work / "server.log", "wb")  # noqa: SIM115  (the server owns it while it runs)
            server = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=server_log, stderr=server_log)
            import ssl

            context = ssl.create_default_context(cafile=str(certificate))
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"https://127.0.0.1:{port}/api/v1/admin/version", context=context, timeout=1)  # noqa: S310
                    break
                except OSError:
                    time.sleep(0.1)
            profile = "bench-ccm"
            request = urllib.request.Request(
                f"https://127.0.0.1:{port}/api/v1/admin/profiles",
                data=json.dumps(
                    {
                        "profileName": profile,
                        "activation": "ccmactivate",
                        "generateRandomPassword": True,
                        "generateRandomMEBxPassword": False,
                        "dhcpEnabled": True,
                    }
                ).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            urllib.request.urlopen(request, context=context, timeout=10)  # noqa: S310
            if args.warmup:
                # The first activations import modules and open the pools (database, MPS); the
                # figure wanted is what each activation costs once the server runs.
                warmup = run_load(args.warmup, args.warmup, port=port, profile=profile, certificate=certificate)
                if warmup.returncode != 0:
                    print("warm-up failed:", warmup.stdout[-2000:], warmup.stderr[-2000:], sep="\n")
                    return 1
                mps.requests.clear()
            user_before, system_before = cpu_times(server.pid)
            cpu_before = user_before + system_before
            profiler = start_py_spy(server.pid, args.py_spy) if args.py_spy else None
            load = run_load(args.devices, args.concurrency, port=port, profile=profile, certificate=certificate)
            user_after, system_after = cpu_times(server.pid)
            cpu_used = user_after + system_after - cpu_before
            if profiler is not None:
                profiler.send_signal(2)
                profiler.wait(timeout=30)
            report = (
                json.loads(load.stdout) if load.stdout.strip().startswith("{") else {"raw": load.stdout + load.stderr}
            )
            succeeded = report.get("succeeded", 0)
            print(json.dumps(report, indent=2))
            print(f"server CPU: {cpu_used:.2f} s in all, {1000 * cpu_used / max(succeeded, 1):.1f} ms per activation")
            print(f"  of which user {user_after - user_before:.2f} s, system {system_after - system_before:.2f} s")
            print(f"server peak memory (VmHWM): {peak_memory_mib(server.pid):.0f} MiB")
            print(f"MPS registrations received: {len(mps.calls('POST'))}")
            if report.get("failed", 1):
                errors = [
                    line for line in (work / "server.log").read_text(errors="replace").splitlines() if "rror" in line
                ]
                print("server errors:", *errors[-20:], sep="\n  ")
                runs = subprocess.run(
                    [
                        "psql",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        "postgres",
                        "-At",
                        database,
                        "-c",
                        "select outcome, status_message, failure_cause, finished_at - started_at"
                        " from devices_provisioningrun where outcome <> 'success'",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                print("runs that did not succeed:", runs or "(none: the server finished every run)", sep="\n")
            return 0 if report.get("failed", 1) == 0 else 1
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)
            vault.stop()
            subprocess.run(
                ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", database], check=False
            )


if __name__ == "__main__":
    sys.exit(main())
