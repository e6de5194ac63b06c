"""REST API benchmark: req/s and latency at concurrency 16 on daphne, PostgreSQL and OpenBao.

    .venv/bin/python bench/api_bench.py [--workers 2] [--duration 10] [--profiles 200]

Starts its own OpenBao dev server, a fresh PostgreSQL database and `--workers` daphne processes
sharing one listening socket (`--fd`), seeds `--profiles` AMT profiles through the API, then runs
wrk (Debian package `wrk`) against: the profile list (`$top=100&$count=true`), one profile, a
trivial view (version: the server's ceiling, measured in the same run) and profile create.
Prints a Markdown table; issue #3's targets are list >= 400 req/s and create >= 350 req/s.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets as random_source
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rps_site.openbao_dev import start_dev_vault  # noqa: E402
from rps_site.serving import daphne_command, local_server_environment, run_manage  # noqa: E402

CREATE_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
request = function()
  local prefix = string.format("b%s-%d", RUN, id)
  counter = counter + 1
  local body = string.format('{"profileName":"%s-%d","activation":"ccmactivate","generateRandomPassword":true,'
    .. '"generateRandomMEBxPassword":false,"dhcpEnabled":true,"tags":["bench"]}', prefix, counter)
  return wrk.format("POST", "/api/v1/admin/profiles", {["Content-Type"]="application/json",
    ["Authorization"]="Bearer TOKEN"}, body)
end
"""
AUTH_SCRIPT = """
wrk.headers["Authorization"] = "Bearer TOKEN"
"""


def wrk(url: str, script: Path, *, duration: int, connections: int) -> dict[str, float]:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rate, "p50": latency("50"), "p99": latency("99"), "non2xx": float(errors.group(1)) if errors else 0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profiles", type=int, default=200)
    parser.add_argument("--only", help="run only the cases whose label contains this text")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required: apt-get install -y wrk")

    work = Path(tempfile.mkdtemp(prefix="rps-bench-"))
    vault = start_dev_vault()
    database = f"rps_bench_{random_source.token_hex(4)}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    # One listening socket per worker, all bound to one port with SO_REUSEPORT: the kernel then
    # spreads connections evenly. (A single shared socket let one worker accept all 16 keep-alive
    # connections in some runs, halving the figures.)
    listeners: list[socket.socket] = []
    port = 0
    for _ in range(args.workers):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1024)
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        listeners.append(listener)
    environment = local_server_environment(
        vault_addr=vault.addr,
        vault_token=vault.rps_token(),
        database_url=f"postgres://postgres@127.0.0.1:5432/{database}",
        RPS_SECURE_SSL_REDIRECT="false",
    )
    servers: list[subprocess.Popen[bytes]] = []
    try:
        run_manage(environment, "migrate", "--noinput", "-v", "0")
        token = run_manage(environment, "rps_token")
        for listener in listeners:
            command = daphne_command(port=0)
            command[command.index("-e") : command.index("-e") + 2] = ["--fd", str(listener.fileno())]
            command[-1:-1] = ["--access-log", os.devnull]
            servers.append(
                subprocess.Popen(
                    command,
                    env=environment,
                    cwd=ROOT,
                    pass_fds=(listener.fileno(),),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/api/v1/admin/version", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        for index in range(args.profiles):
            body = (
                f'{{"profileName":"seed{index:04d}","activation":"ccmactivate","generateRandomPassword":true,'
                '"generateRandomMEBxPassword":false,"dhcpEnabled":true,"tags":["a","b"]}'
            ).encode()
            request = urllib.request.Request(
                f"{base}/api/v1/admin/profiles",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
        auth = work / "auth.lua"
        auth.write_text(AUTH_SCRIPT.replace("TOKEN", token))
        create = work / "create.lua"
        create.write_text(CREATE_SCRIPT.replace("TOKEN", token).replace("RUN", f'"{random_source.token_hex(3)}"'))
        cases = [
            ("trivial view (GET /version)", f"{base}/api/v1/admin/version", auth),
            ("profile list $top=100&$count=true", f"{base}/api/v1/admin/profiles?$top=100&$count=true", auth),
            ("one profile", f"{base}/api/v1/admin/profiles/seed0042", auth),
            ("profile create", base, create),
        ]
        setup = f"{args.workers} daphne worker(s), c={args.connections}, {args.duration}s each"
        print(f"\n{setup}, {args.profiles} profiles\n")
        print("| endpoint | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---:|---:|---:|---:|")
        for label, url, script in cases:
            if args.only and args.only not in label:
                continue
            result = wrk(url, script, duration=args.duration, connections=args.connections)
            figures = f"{result['rps']:.0f} | {result['p50']:.1f} | {result['p99']:.1f} | {result['non2xx']:.0f}"
            print(f"| {label} | {figures} |")
        return 0
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        vault.stop()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", database], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
