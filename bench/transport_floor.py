"""The transport's own cost: what one daphne worker spends on an activation's WebSocket traffic
when the server does nothing else.

    .venv/bin/python bench/transport_floor.py [--sessions 200] [--exchanges 38]

A Channels consumer (`bench/transport_floor_app.py`) plays the server side of an activation's
frame pattern over WSS, with none of its work: it answers the client's first message with
`--exchanges` `wsman` frames of the size the CCM bench sends (about 2 KB), waits for each
answer (about 3 KB, as amtsim's), then sends the terminal message and lets the client close.
A load process (websockets, as amtsim's rpc client) runs the sessions concurrently.

The CPU the worker spends per session is the floor under `bench/activation_bench.py`'s figure:
TLS (Twisted over pyOpenSSL), the WebSocket protocol (autobahn), daphne, Channels and the event
loop, for the same number and size of frames.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.activation_bench import cpu_times, peak_memory_mib, start_py_spy  # noqa: E402
from rps_site.openbao_dev import free_port  # noqa: E402
from rps_site.serving import daphne_command, local_server_environment, make_self_signed_certificate  # noqa: E402

ANSWER_BYTES = 2300  # an AMT answer before base64 (about 3 KB on the wire)


async def one_session(url: str, context: ssl.SSLContext) -> None:
    import websockets

    answer = json.dumps(
        {
            "method": "response",
            "apiKey": "key",
            "appVersion": "2.40.0",
            "protocolVersion": "4.0.0",
            "status": "ok",
            "message": "ok",
            "payload": base64.b64encode(os.urandom(ANSWER_BYTES)).decode(),
            "tenantId": "",
        }
    )
    async with websockets.connect(url, ssl=context, max_size=2**20) as socket:
        await socket.send(json.dumps({"method": "activate", "payload": ""}))
        async for frame in socket:
            message = json.loads(frame)
            if message["method"] == "wsman":
                await socket.send(answer)
            else:
                return


async def run_load(url: str, context: ssl.SSLContext, sessions: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(one_session(url, context) for _ in range(sessions)))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--exchanges", type=int, default=38)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--py-spy", metavar="FILE", help="also record the server with py-spy (collapsed stacks)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rps-transport-floor-"))
    certificate, key = make_self_signed_certificate(work / "tls")
    port = free_port()
    command = daphne_command(port=port, tls=(certificate, key))
    command[-1] = "bench.transport_floor_app:application"
    command[-1:-1] = ["--access-log", os.devnull]
    environment = local_server_environment(
        vault_addr="http://127.0.0.1:9",  # never contacted: the floor app reads no secret
        vault_token="unused",
        database_url="sqlite:///:memory:",
        FLOOR_EXCHANGES=str(args.exchanges),
    )
    server = subprocess.Popen(command, env=environment, cwd=ROOT)
    try:
        context = ssl.create_default_context(cafile=str(certificate))
        url = f"wss://127.0.0.1:{port}/activate"
        for _ in range(300):
            try:
                asyncio.run(run_load(url, context, 1))
                break
            except OSError:
                time.sleep(0.1)
        asyncio.run(run_load(url, context, args.warmup))
        user_before, system_before = cpu_times(server.pid)
        profiler = start_py_spy(server.pid, args.py_spy) if args.py_spy else None
        elapsed = asyncio.run(run_load(url, context, args.sessions))
        user_after, system_after = cpu_times(server.pid)
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=30)
        used = user_after + system_after - user_before - system_before
        print(
            json.dumps(
                {
                    "sessions": args.sessions,
                    "exchanges_per_session": args.exchanges,
                    "elapsed_seconds": round(elapsed, 3),
                    "server_cpu_ms_per_session": round(1000 * used / args.sessions, 1),
                    "user_seconds": round(user_after - user_before, 2),
                    "system_seconds": round(system_after - system_before, 2),
                    "peak_memory_mib": round(peak_memory_mib(server.pid)),
                },
                indent=2,
            )
        )
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
