"""The reference topology under load: activations and REST through HAProxy (TLS) and N daphne
workers, with PostgreSQL, OpenBao and Redis, as `scripts/cluster.sh up` brings them up.

    .venv/bin/python bench/cluster_bench.py [--devices 400] [--workers 2] [--rest] [--uvicorn]
                                           [--py-spy FILE]

Activations: `--devices` amtsim devices at once (CCM, generated password, DHCP profile, timers 0,
the recording MPS), from a separate process, over WSS to HAProxy. Reported: activations/s,
latency p50/p99, failures, and CPU per activation (utime + stime from /proc) of each process:
each worker, HAProxy, the PostgreSQL backends serving the cluster's database (the server's own
background processes, shared with other databases, are left out), OpenBao and Redis; and their
memory (the workers' peak, VmHWM; the others' resident size).

`--rest`: wrk `-c16` through HAProxy (profile list of 200, profile create), and the trivial view
(GET /version) straight to one worker: daphne's floor per worker. `--uvicorn` (needs
`pip install -r bench/requirements.txt`): the same trivial view on the same app served by one
uvicorn process with uvloop and httptools, for the record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.activation_bench import cpu_seconds, peak_memory_mib, start_py_spy  # noqa: E402
from bench.api_bench import AUTH_SCRIPT, CREATE_SCRIPT, wrk  # noqa: E402
from rps_site.openbao_dev import free_port  # noqa: E402
from tests.mps_recorder import running_mps_recorder  # noqa: E402

CLUSTER = ROOT / "scripts" / "cluster.sh"


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proportional_mib(pid: int) -> float:
    """Memory a process holds, with pages it shares counted in proportion (PostgreSQL's shared buffers)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def database_backends(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to `database` (`postgres: user db ...`)."""
    backends = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if command.startswith("postgres: ") and f" {database} " in command:
                backends[int(entry.name)] = cpu_seconds(int(entry.name))
        except OSError:
            continue  # gone meanwhile
    return backends


@contextmanager
def cluster(state: Path, workers: int, settings: dict[str, str]) -> Iterator[dict[str, Any]]:
    arguments = [f"--env={name}={value}" for name, value in settings.items()]
    started = subprocess.run(
        [str(CLUSTER), "up", "--state", str(state), "--workers", str(workers), "--json", *arguments],
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        raise SystemExit(f"scripts/cluster.sh up failed:\n{started.stdout}{started.stderr}")
    try:
        description = json.loads(started.stdout)
        description["processes"] = json.loads((state / "cluster.json").read_text())["processes"]
        yield description
    finally:
        subprocess.run([str(CLUSTER), "down", "--state", str(state)], check=False)


def post_profile(base: str, token: str, name: str, context: Any) -> None:
    body = {
        "profileName": name,
        "activation": "ccmactivate",
        "generateRandomPassword": True,
        "generateRandomMEBxPassword": False,
        "dhcpEnabled": True,
        "tags": ["a", "b"],
    }
    request = urllib.request.Request(
        f"{base}/api/v1/admin/profiles",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    urllib.request.urlopen(request, context=context, timeout=30)  # noqa: S310  (our own loopback cluster)


def run_load(devices: int, *, url: str, profile: str, ca_file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amtsim", "load", "--devices", str(devices), "--concurrency", str(devices), "--json"]
        + ["activate", "-u", url, "-profile", profile, "-cafile", ca_file],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def activations(
    description: dict[str, Any], devices: int, warmup: int, token: str, context: Any, *, py_spy: str | None = None
) -> int:
    profile = "bench-ccm"
    post_profile(description["https"], token, profile, context)
    if warmup:
        warm = run_load(warmup, url=description["wss"], profile=profile, ca_file=description["ca_file"])
        if warm.returncode != 0:
            print("warm-up failed:", warm.stdout[-2000:], warm.stderr[-2000:], sep="\n")
            return 1
    processes = {f"worker :{worker['port']}": worker["pid"] for worker in description["workers"]}
    processes |= {name: pid for name, pid in description["processes"].items() if pid}
    database = description["database_url"].rsplit("/", 1)[1]
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    backends_before = database_backends(database)
    load_before = children_cpu_seconds()
    profiler = start_py_spy(description["workers"][0]["pid"], py_spy) if py_spy else None
    started = time.monotonic()
    load = run_load(devices, url=description["wss"], profile=profile, ca_file=description["ca_file"])
    elapsed = time.monotonic() - started
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        profiler.wait(timeout=60)
    used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    backends_after = database_backends(database)
    used["PostgreSQL backends"] = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
    client = children_cpu_seconds() - load_before
    report = json.loads(load.stdout) if load.stdout.strip().startswith("{") else {"raw": load.stdout + load.stderr}
    succeeded = max(int(report.get("succeeded", 0)), 1)
    latency = report.get("latency_seconds", {})
    print(f"\n{devices} devices at once, {len(description['workers'])} workers, TLS at HAProxy ({elapsed:.1f} s)\n")
    print(f"activations/s {report.get('activations_per_second')}, failed {report.get('failed')}", end="")
    print(f", latency p50 {latency.get('p50')} s, p99 {latency.get('p99')} s")
    if report.get("failures"):
        print("failures:", json.dumps(report["failures"], indent=2))
    print("\n| process | CPU ms per activation | memory MiB |")
    print("|---|---:|---:|")
    for name, seconds in used.items():
        if name.startswith("worker"):
            memory = f"{peak_memory_mib(processes[name]):.0f} (peak)"
        elif name in processes:
            memory = f"{resident_mib(processes[name]):.0f}"
        else:
            memory = f"{sum(proportional_mib(pid) for pid in backends_after):.0f} (PSS, {len(backends_after)} backends)"
        print(f"| {name} | {1000 * seconds / succeeded:.1f} | {memory} |")
    workers = sum(seconds for name, seconds in used.items() if name.startswith("worker"))
    print(f"| the workers together | {1000 * workers / succeeded:.1f} | |")
    print(f"| the server side in all | {1000 * sum(used.values()) / succeeded:.1f} | |")
    print(f"| the load generator (amtsim, {devices} devices and clients) | {1000 * client / succeeded:.1f} | |")
    box = 1000 * elapsed * (os.cpu_count() or 1) / succeeded
    print(f"\n(the box: {os.cpu_count()} cores, {box:.1f} core-ms per activation of wall time)")
    return 0 if report.get("failed", 1) == 0 else 1


def wrk_scripts(token: str, work: Path) -> dict[str, Path]:
    scripts = {
        "auth": AUTH_SCRIPT.replace("TOKEN", token),
        # A worker reached directly is told, as by HAProxy, that the request came over TLS.
        "direct": AUTH_SCRIPT.replace("TOKEN", token) + 'wrk.headers["X-Forwarded-Proto"] = "https"\n',
        "create": CREATE_SCRIPT.replace("TOKEN", token).replace("RUN", f'"{os.urandom(3).hex()}"'),
    }
    paths = {}
    for name, text in scripts.items():
        paths[name] = work / f"{name}.lua"
        paths[name].write_text(text)
    return paths


def wrk_row(label: str, url: str, script: Path, duration: int) -> None:
    result = wrk(url, script, duration=duration, connections=16)
    figures = f"{result['rps']:.0f} | {result['p50']:.1f} | {result['p99']:.1f} | {result['non2xx']:.0f}"
    print(f"| {label} | {figures} |", flush=True)


def rest(description: dict[str, Any], token: str, context: Any, *, duration: int, work: Path) -> None:
    base = description["https"]
    for index in range(200):
        post_profile(base, token, f"seed{index:04d}", context)
    scripts = wrk_scripts(token, work)
    workers = len(description["workers"])
    print(f"\nREST, wrk -t2 -c16, {duration} s each\n")
    print("| endpoint | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    through = f"HAProxy, {workers} workers"
    wrk_row(
        f"profile list $top=100&$count=true ({through})",
        f"{base}/api/v1/admin/profiles?$top=100&$count=true",
        scripts["auth"],
        duration,
    )
    wrk_row(f"profile create ({through})", base, scripts["create"], duration)
    wrk_row(f"trivial view GET /version ({through})", f"{base}/api/v1/admin/version", scripts["auth"], duration)
    worker = description["workers"][0]["url"]
    wrk_row(
        "trivial view GET /version (one daphne worker, plain HTTP)",
        f"{worker}/api/v1/admin/version",
        scripts["direct"],
        duration,
    )


def uvicorn_floor(state: Path, token: str, *, duration: int, work: Path) -> None:
    """The trivial view on the same app under one uvicorn process (uvloop, httptools)."""
    port = free_port()
    settings = json.loads((state / "worker.env.json").read_text())
    environment = {**{k: v for k, v in os.environ.items() if not k.startswith("RPS_")}, **settings}
    command = [sys.executable, "-m", "uvicorn", "rps_site.asgi:application", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, env=environment)
    try:
        # As HAProxy would say it (else the app redirects to https://, which this port does not speak).
        probe = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/admin/version", headers={"X-Forwarded-Proto": "https"}
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(probe, timeout=1)  # noqa: S310  (our own loopback server)
                break
            except OSError:
                time.sleep(0.1)
        url, script = f"http://127.0.0.1:{port}/api/v1/admin/version", wrk_scripts(token, work)["direct"]
        wrk(url, script, duration=2, connections=16)  # warm-up: the daphne worker measured beside it is warm
        wrk_row("trivial view GET /version (one uvicorn process, uvloop + httptools)", url, script, duration)
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=40, help="activations run before measuring")
    parser.add_argument("--rest", action="store_true", help="also the REST figures (wrk)")
    parser.add_argument("--uvicorn", action="store_true", help="also the trivial view under uvicorn")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--no-activations", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="record the first worker with py-spy (collapsed stacks)")
    args = parser.parse_args()
    if (args.rest or args.uvicorn) and not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")

    import ssl

    work = Path(tempfile.mkdtemp(prefix="rps-cluster-bench-"))
    status = 0
    try:
        with running_mps_recorder() as mps:
            settings = {
                "RPS_MPS_URL": mps.url,
                "RPS_DELAY_TIMER": "0",
                "RPS_RETRY_DELAY": "0",
                # Every device comes from 127.0.0.1 here.
                "RPS_DEVICE_SOCKETS_PER_ADDRESS": str(max(100, 2 * args.devices)),
                "RPS_DEVICE_CONNECTIONS_PER_MINUTE": str(max(600, 4 * args.devices)),
            }
            with cluster(work / "state", args.workers, settings) as description:
                token = Path(description["token_file"]).read_text().strip()
                context = ssl.create_default_context(cafile=description["ca_file"])
                if not args.no_activations:
                    status = activations(description, args.devices, args.warmup, token, context, py_spy=args.py_spy)
                if args.rest:
                    rest(description, token, context, duration=args.duration, work=work)
                if args.uvicorn:
                    uvicorn_floor(work / "state", token, duration=args.duration, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
