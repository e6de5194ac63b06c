"""The device channel's transport boundary over real sockets (SECURITY.md checks 13 and 23): WSS
only outside debug, the proxy header only when trusted, per-address socket limits, idle and silent
clients, the session deadline, and a protocol error mid-session.

Two servers beside the session's e2e server, on its database, Vault and MPS: `limits_server`
(TLS and a plain listener, short limits) and `proxied_server` (a plain listener behind a trusted
TLS-terminating proxy, as HAProxy would forward to it). The clients are raw WebSocket clients
(`websockets`) that send what rpc-go would, or what an attacker would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from amtsim import ControlMode, DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.rpc.client import client_message
from rps_site.openbao_dev import free_port
from rps_site.serving import daphne_command, make_self_signed_certificate
from rps_site.vault import device_path
from tests.activation.amtsim_link import InProcessDevice
from tests.activation.test_runner_fail_closed import activation_frame
from tests.e2e.conftest import RpsServer, create_ccm_profile, running_server

FIRST_FRAME_TIMEOUT = 2
WSMAN_TIMEOUT = 2  # a silent client is declared so after 3 attempts: 3 × 2 s (RPS_RETRY_DELAY=0)
SILENCE_BOUND = 3 * WSMAN_TIMEOUT
CLOSE_GRACE = 3
PROXIED_SOCKET_CAP = 3
PROXIED_DEADLINE = 5


@dataclass
class Listener:
    pid: int
    tls_url: str | None
    plain_url: str
    ca_file: Path

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


def start_listener(rps: RpsServer, work: Path, *, tls: bool, overrides: dict[str, str]) -> Iterator[Listener]:
    certificate, key = make_self_signed_certificate(work / "tls")
    tls_port, plain_port = free_port(), free_port()
    command = daphne_command(port=tls_port, tls=(certificate, key)) if tls else daphne_command(port=plain_port)
    if tls:
        command[-1:-1] = ["-e", f"tcp:{plain_port}:interface=127.0.0.1"]
    environment = {**rps.environment, **overrides}
    probe = (
        f"https://127.0.0.1:{tls_port}/api/v1/admin/version"
        if tls
        else f"http://127.0.0.1:{plain_port}/api/v1/admin/version"
    )
    with running_server(command, environment, work / "server.log", probe_url=probe, ca_file=certificate) as server:
        yield Listener(
            pid=server.pid,
            tls_url=f"wss://127.0.0.1:{tls_port}/activate" if tls else None,
            plain_url=f"ws://127.0.0.1:{plain_port}/activate",
            ca_file=certificate,
        )


@pytest.fixture(scope="module")
def limits_server(rps_server: RpsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    yield from start_listener(
        rps_server,
        tmp_path_factory.mktemp("limits"),
        tls=True,
        overrides={
            "RPS_DEVICE_FIRST_FRAME_TIMEOUT": str(FIRST_FRAME_TIMEOUT),
            "RPS_WSMAN_TIMEOUT": str(WSMAN_TIMEOUT),
            "RPS_DEVICE_SOCKETS_PER_ADDRESS": "250",
            "RPS_DEVICE_CONNECTIONS_PER_MINUTE": "5000",
            "RPS_DEVICE_CLOSE_GRACE": str(CLOSE_GRACE),
            "RPS_LOG_LEVEL": "INFO",
        },
    )


@pytest.fixture(scope="module")
def proxied_server(rps_server: RpsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    yield from start_listener(
        rps_server,
        tmp_path_factory.mktemp("proxied"),
        tls=False,
        overrides={
            "RPS_TRUST_PROXY_SSL_HEADER": "true",
            "RPS_SECURE_SSL_REDIRECT": "false",
            "RPS_DEVICE_SOCKETS_PER_ADDRESS": str(PROXIED_SOCKET_CAP),
            "RPS_DEVICE_SESSION_DEADLINE": str(PROXIED_DEADLINE),
            "RPS_WSMAN_TIMEOUT": "30",
        },
    )


@pytest.fixture(scope="module")
def haproxy(proxied_server: Listener, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """HAProxy terminating TLS in front of `proxied_server`, as the README's topology has it."""
    work = tmp_path_factory.mktemp("haproxy")
    certificate, key = make_self_signed_certificate(work / "tls")
    bundle = work / "bundle.pem"
    bundle.write_bytes(certificate.read_bytes() + key.read_bytes())
    port = free_port()
    backend = proxied_server.plain_url.removeprefix("ws://").removesuffix("/activate")
    configuration = work / "haproxy.cfg"
    configuration.write_text(
        f"""defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend devices
    bind 127.0.0.1:{port} ssl crt {bundle}
    http-request set-header X-Forwarded-Proto https
    option forwardfor
    default_backend rps
backend rps
    server worker {backend}
"""
    )
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(configuration)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield Listener(proxy.pid, f"wss://127.0.0.1:{port}/activate", proxied_server.plain_url, certificate)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


FROM_TRUSTED_PROXY = {"X-Forwarded-Proto": "https"}


def connect(url: str, listener: Listener, headers: dict[str, str] | None = None) -> Any:
    context = listener.tls_context() if url.startswith("wss:") else None
    return websockets.connect(url, ssl=context, additional_headers=headers, open_timeout=30, max_size=None)


async def refusal_of(url: str, listener: Listener, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Connect, say nothing, and return the server's close code and reason."""
    async with connect(url, listener, headers) as client:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def is_served(url: str, listener: Listener, headers: dict[str, str] | None = None) -> bool:
    """A frame reaches the device session: garbage gets the protocol's error message back."""
    async with connect(url, listener, headers) as client:
        try:
            await client.send("{not json")
            answer = json.loads(await asyncio.wait_for(client.recv(), 10))
        except websockets.ConnectionClosed:
            return False
    return bool(answer["method"] == "error" and answer["message"])


def run_of(rps: RpsServer, guid: str) -> tuple[str, str, str] | None:
    with psycopg.connect(rps.database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(
            """select r.outcome, r.failure_cause, r.status_message from devices_provisioningrun r
               join devices_device d on d.id = r.device_id where d.guid = %s order by r.id desc limit 1""",
            (guid.lower(),),
        ).fetchone()


async def wait_for_run(rps: RpsServer, guid: str) -> tuple[str, str, str]:
    for _ in range(100):
        run = run_of(rps, guid)
        if run is not None and run[0] != "in_progress" and run[0] != "":
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"no finished run for {guid}: {run_of(rps, guid)}")


# -- WSS only outside debug ----------------------------------------------------------------------


async def test_plain_ws_is_refused_with_a_reason_and_wss_is_served(
    rps_server: RpsServer, limits_server: Listener
) -> None:
    assert limits_server.tls_url is not None
    assert await is_served(limits_server.tls_url, limits_server)
    assert await refusal_of(limits_server.plain_url, limits_server) == (1008, "device connections need TLS (wss://)")

    # A full activation request sent at once over plain ws:// reaches nothing: no run, no secret.
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    async with connect(limits_server.plain_url, limits_server) as client:
        with pytest.raises(websockets.ConnectionClosed):  # on sending or on reading, as the close overtakes
            await client.send(activation_frame(device, profile))
            await asyncio.wait_for(client.recv(), 10)
    assert client.close_code == 1008
    assert run_of(rps_server, device.identity.uuid) is None
    assert rps_server.vault_store().read(device_path(device.identity.uuid)) is None


async def test_the_forwarded_proto_header_counts_only_from_a_proxy_the_operator_trusts(
    limits_server: Listener, proxied_server: Listener
) -> None:
    # Not trusted (the default): a client claiming TLS in a header is still on plain ws://.
    assert await refusal_of(limits_server.plain_url, limits_server, FROM_TRUSTED_PROXY) == (
        1008,
        "device connections need TLS (wss://)",
    )
    # Trusted: the proxy's https is believed; anything else is refused.
    assert await is_served(proxied_server.plain_url, proxied_server, FROM_TRUSTED_PROXY)
    for headers in ({"X-Forwarded-Proto": "ws"}, {"X-Forwarded-Proto": "http"}, None):
        assert await refusal_of(proxied_server.plain_url, proxied_server, headers) == (
            1008,
            "device connections need TLS (wss://)",
        ), headers


async def test_behind_haproxy_terminating_tls_devices_are_served(haproxy: Listener) -> None:
    assert haproxy.tls_url is not None
    assert await is_served(haproxy.tls_url, haproxy)


# -- per-address limits and idle sockets ------------------------------------------------------------


async def test_open_sockets_per_address_are_capped(proxied_server: Listener) -> None:
    url = proxied_server.plain_url
    held = [await connect(url, proxied_server, FROM_TRUSTED_PROXY) for _ in range(PROXIED_SOCKET_CAP)]
    try:
        assert await refusal_of(url, proxied_server, FROM_TRUSTED_PROXY) == (
            1013,
            f"too many open device connections from this address (at most {PROXIED_SOCKET_CAP} at once)",
        )
        await held.pop().close()
        # The closed socket's place is free again once the server has seen it go.
        for _ in range(50):
            if await is_served(url, proxied_server, FROM_TRUSTED_PROXY):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("a socket closed by the client never freed its place")
    finally:
        for client in held:
            await client.close()


async def activate_with_amtsim(rps: RpsServer, url: str, listener: Listener) -> None:
    profile = create_ccm_profile(rps)
    device = VirtualAmtDevice(DeviceIdentity())
    async with serve_device(device) as endpoint:
        result = await run_rpc(
            ["activate", "-profile", profile, "-u", url, "-cafile", str(listener.ca_file)], device_endpoint=endpoint
        )
    assert result.exit_code == 0, result.message
    assert device.state.control_mode == ControlMode.CCM


async def test_idle_sockets_are_closed_after_the_first_frame_limit_and_descriptors_return(
    rps_server: RpsServer, limits_server: Listener
) -> None:
    assert limits_server.tls_url is not None
    url = limits_server.tls_url
    # Warm: the database, Vault and MPS connections a session opens and keeps for the next.
    await activate_with_amtsim(rps_server, url, limits_server)
    await asyncio.sleep(CLOSE_GRACE + 1)
    baseline = limits_server.open_descriptors()

    idle: list[ClientConnection] = []
    opened_at = time.monotonic()
    for _ in range(4):  # 200 TLS handshakes, 50 at a time
        idle += await asyncio.gather(*(connect(url, limits_server) for _ in range(50)))
    assert limits_server.open_descriptors() >= baseline + 200
    await activate_with_amtsim(rps_server, url, limits_server)  # meanwhile, from the same address

    closes = await asyncio.gather(*(asyncio.wait_for(client.wait_closed(), 30) for client in idle))
    assert closes == [None] * 200
    # The server closes each with the named policy code. Under CPU load this test's own loop (200
    # TLS clients in Python) can answer a close too late for the server's close grace; the server
    # then drops the connection and the client sees 1006. Either way the server closed it.
    named = (1008, f"no request within {FIRST_FRAME_TIMEOUT} s")
    closed = {(client.close_code, client.close_reason) for client in idle}
    assert named in closed and closed <= {named, (1006, "")}, closed
    assert time.monotonic() - opened_at >= FIRST_FRAME_TIMEOUT
    for _ in range(100):
        if limits_server.open_descriptors() <= baseline:
            break
        await asyncio.sleep(0.1)
    assert limits_server.open_descriptors() <= baseline


# -- sessions that go wrong midway ------------------------------------------------------------------


async def relay_until(client: ClientConnection, device: VirtualAmtDevice, call: bytes) -> tuple[dict[str, Any], int]:
    """Relay the server's WS-Man requests to `device` as rpc-go would, until the first request for
    `call`; returns that request (unanswered) and how many requests were answered before it."""
    link = InProcessDevice(device)
    answered = 0
    while True:
        message = json.loads(await asyncio.wait_for(client.recv(), 30))
        assert message["method"] == "wsman", message
        request = base64.b64decode(message["payload"])
        if call in request:
            return message, answered
        answer = await link.exchange(request, timeout=WSMAN_TIMEOUT)
        await client.send(client_message("response", base64.b64encode(answer).decode()))
        answered += 1


async def frames_until_closed(client: ClientConnection, timeout: float) -> list[tuple[float, dict[str, Any]]]:
    frames = []
    try:
        async with asyncio.timeout(timeout):
            async for text in client:
                frames.append((time.monotonic(), json.loads(text)))
    except TimeoutError:
        raise AssertionError(f"the server did not close the socket within {timeout} s: {frames}") from None
    return frames


async def test_a_relay_that_goes_silent_mid_activation_ends_its_session_naming_the_call(
    rps_server: RpsServer, limits_server: Listener
) -> None:
    assert limits_server.tls_url is not None
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    async with connect(limits_server.tls_url, limits_server) as client:
        await client.send(activation_frame(device, profile))
        first_unanswered, answered = await relay_until(client, device, b"AMT_RedirectionService")
        silent_since = time.monotonic()
        frames = await frames_until_closed(client, SILENCE_BOUND + CLOSE_GRACE + 10)

    assert answered > 3 and device.state.control_mode == ControlMode.CCM  # activated, then configuring
    *resent, (ended_at, terminal) = frames
    # §3.6 for a device that may be alive: the same request twice more, then the session ends.
    assert [frame["payload"] for _, frame in resent] == [first_unanswered["payload"]] * 2
    assert terminal["method"] == "error"
    text = json.loads(terminal["message"])["Status"]
    assert text.startswith("The device stopped answering at AMT_RedirectionService"), text
    assert SILENCE_BOUND - 0.5 <= ended_at - silent_since <= SILENCE_BOUND + 3
    outcome, cause, _ = await wait_for_run(rps_server, device.identity.uuid)
    assert outcome == "failure" and cause == text


@pytest.mark.parametrize(
    ("intrusion", "refusal"),
    [
        ("{not json", "SyntaxError"),
        ("second request", "A session already started on this connection."),
    ],
    ids=["garbage-frame", "second-request"],
)
async def test_a_protocol_error_mid_activation_cancels_the_flow_with_one_terminal_message(
    rps_server: RpsServer, limits_server: Listener, intrusion: str, refusal: str
) -> None:
    assert limits_server.tls_url is not None
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    async with connect(limits_server.tls_url, limits_server) as client:
        await client.send(activation_frame(device, profile))
        await relay_until(client, device, b"AMT_RedirectionService")
        await client.send(activation_frame(device, profile) if intrusion == "second request" else intrusion)
        # The client stays to listen: a flow still running would resend its request after 2 s.
        frames = await frames_until_closed(client, CLOSE_GRACE + 10)

    assert [frame["method"] for _, frame in frames] == ["error"]
    assert refusal in frames[0][1]["message"]
    outcome, cause, status = await wait_for_run(rps_server, device.identity.uuid)
    assert outcome == "failure" and cause.startswith("protocol error: ") and refusal in cause
    assert status == cause


async def test_a_session_past_its_deadline_is_ended_and_recorded(
    rps_server: RpsServer, proxied_server: Listener
) -> None:
    """Behind the trusted proxy the deadline is 5 s and a WS-Man wait 30 s: a client that never
    answers is ended by the deadline, not by its silence."""
    profile = create_ccm_profile(rps_server)
    device = VirtualAmtDevice(DeviceIdentity())
    async with connect(proxied_server.plain_url, proxied_server, FROM_TRUSTED_PROXY) as client:
        opened = time.monotonic()
        await client.send(activation_frame(device, profile))
        frames = await frames_until_closed(client, PROXIED_DEADLINE + 20)

    methods = [frame["method"] for _, frame in frames]
    assert methods == ["wsman", "error"], methods
    ended_at, terminal = frames[-1]
    assert (
        json.loads(terminal["message"])["Status"]
        == f"Failed: the session took longer than its limit of {PROXIED_DEADLINE} s"
    )
    assert PROXIED_DEADLINE - 0.5 <= ended_at - opened <= PROXIED_DEADLINE + 3
    outcome, cause, _ = await wait_for_run(rps_server, device.identity.uuid)
    assert (outcome, cause) == ("failure", f"session deadline of {PROXIED_DEADLINE} s passed")
