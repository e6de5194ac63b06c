"""What two workers share through Redis and PostgreSQL (DESIGN.md "Scaling out", SECURITY.md check
23): a caller throttled, limited or locked out on one worker is so on the other, and the channel
layer carries an Enterprise Assistant request from one worker to an EA on the other."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets as random_source
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from amtsim import DeviceIdentity, VirtualAmtDevice, run_rpc, serve_device
from amtsim.enterprise_assistant import PROFILE_REQUEST, VirtualEnterpriseAssistant
from rps_site.serving import run_manage
from tests.cluster.conftest import Cluster, create_ccm_profile, running_cluster

pytestmark = pytest.mark.cluster

EA_TENANT = "cluster-ea"
EA_USER, EA_PASSWORD = "ea-cluster", "ea-cluster-password-" + random_source.token_hex(8)
PORTAL_USER, PORTAL_PASSWORD = "cluster-admin", "Portal-" + random_source.token_hex(12)
AT_ONCE = "too many open device connections from this address (at most 3 at once)"
PER_MINUTE = "too many device connections from this address (at most 8 a minute)"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    settings = {
        "RPS_EXPORT_VIA_JWT": "true",
        "RPS_EXPORT_THROTTLE": "3/hour",
        "RPS_DEVICE_SOCKETS_PER_ADDRESS": "3",
        "RPS_DEVICE_CONNECTIONS_PER_MINUTE": "8",
        "RPS_LOGIN_FAILURE_LIMIT": "3",
        "RPS_EA_ACCOUNTS": json.dumps({EA_USER: {"password": EA_PASSWORD, "tenant": EA_TENANT}}),
        "RPS_LOG_LEVEL": "INFO",  # each device session's line says which worker ran it
    }
    arguments = [f"--env={name}={value}" for name, value in settings.items()]
    with running_cluster(
        tmp_path_factory.mktemp("cluster") / "state",
        *arguments,
        "--asgi",
        "tests.cluster.ea_requester_app:application",
    ) as running:
        yield running


def an_address() -> str:
    """A client address no other test uses (IPv6 documentation prefix)."""
    return f"2001:db8::{random_source.token_hex(2)}:{random_source.token_hex(2)}"


# -- the export throttle (a Redis-backed Django cache) ---------------------------------------------


def test_a_caller_throttled_on_one_worker_is_throttled_on_the_other(cluster: Cluster) -> None:
    profile = create_ccm_profile(cluster)
    first, second = cluster.worker_ports
    caller, other_caller = cluster.token(subject="exporter-1"), cluster.token(subject="exporter-2")
    statuses = []
    for port in (first, second, first, second, first):
        with cluster.worker_api(port, token=caller) as api:
            statuses.append(api.get(f"/profiles/export/{profile}").status_code)
    assert statuses == [200, 200, 200, 429, 429]
    with cluster.api(token=caller) as api:
        refused = api.get(f"/profiles/export/{profile}")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    with cluster.worker_api(second, token=other_caller) as api:
        assert api.get(f"/profiles/export/{profile}").status_code == 200  # per caller, not global


# -- device connection limits (RedisAdmission) -----------------------------------------------------


async def open_device_socket(url: str, **options: object) -> ClientConnection:
    return await connect(url, open_timeout=10, ping_interval=None, **options)  # type: ignore[arg-type]


async def refusal(socket: ClientConnection) -> tuple[int, str] | None:
    """The close code and reason if the server closes the socket at once (it refuses right after
    the handshake), else None: admitted, the server waits for the device's request."""
    try:
        await asyncio.wait_for(socket.recv(), 0.5)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return closed.rcvd.code, closed.rcvd.reason
    except TimeoutError:
        return None
    raise AssertionError("the server sent a frame before any request")


def direct(port: int, address: str) -> dict[str, object]:
    """Options to reach one worker's device endpoint as HAProxy does, for `address`."""
    return {
        "uri": f"ws://127.0.0.1:{port}/activate",
        "additional_headers": {"X-Forwarded-Proto": "https", "X-Forwarded-For": address},
    }


async def connect_direct(port: int, address: str) -> ClientConnection:
    options = direct(port, address)
    return await open_device_socket(str(options.pop("uri")), **options)


async def test_open_device_sockets_are_capped_across_workers(cluster: Cluster) -> None:
    first, second = cluster.worker_ports
    address = an_address()
    held = [await connect_direct(first, address), await connect_direct(first, address)]
    held.append(await connect_direct(second, address))
    assert await asyncio.gather(*map(refusal, held)) == [None, None, None]
    for port in (second, first):
        extra = await connect_direct(port, address)
        assert await refusal(extra) == (1013, AT_ONCE)
    await held[0].close()
    await asyncio.sleep(0.3)  # the release reaches Redis when the server has seen the close
    replacement = await connect_direct(second, address)
    assert await refusal(replacement) is None
    for socket in (*held[1:], replacement):
        await socket.close()


async def test_the_limit_follows_the_address_haproxy_saw_not_the_one_a_client_claims(cluster: Cluster) -> None:
    """Through HAProxy from one loopback address: the fourth socket is refused, also when the client
    sends an X-Forwarded-For of its own (HAProxy overwrites it)."""
    source = f"127.0.{random_source.randbelow(200) + 20}.{random_source.randbelow(200) + 20}"
    options = {"ssl": cluster.ssl_context(), "local_addr": (source, 0)}
    held = [await open_device_socket(cluster.wss, **options) for _ in range(3)]
    assert await asyncio.gather(*map(refusal, held)) == [None, None, None]
    forged = await open_device_socket(cluster.wss, additional_headers={"X-Forwarded-For": "203.0.113.9"}, **options)
    assert await refusal(forged) == (1013, AT_ONCE)
    for socket in held:
        await socket.close()


async def test_new_device_connections_are_rate_limited_across_workers(cluster: Cluster) -> None:
    ports = cluster.worker_ports
    address = an_address()
    for attempt in range(8):  # each closed at once: only the rate can refuse the next ones
        socket = await connect_direct(ports[attempt % 2], address)
        await socket.close()
    for port in ports:
        refused = await connect_direct(port, address)
        assert await refusal(refused) == (1013, PER_MINUTE)


# -- portal login lockout (django-axes, in PostgreSQL) ---------------------------------------------


def portal_login(cluster: Cluster, port: int, address: str, password: str) -> int:
    """One portal login attempt on one worker from `address`: the answer's status."""
    base = f"http://127.0.0.1:{port}"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": address, "Referer": f"https://127.0.0.1:{port}/"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        form = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        cookie = form.headers["set-cookie"].split(";", 1)[0]
        answer = client.post(
            "/admin/login/?next=/admin/",
            data={"username": PORTAL_USER, "password": password, "csrfmiddlewaretoken": token.group(1)},
            headers={"Cookie": cookie},
        )
    return answer.status_code


def test_a_login_lockout_on_one_worker_holds_on_the_other(cluster: Cluster) -> None:
    environment = {**cluster.settings(), "DJANGO_SUPERUSER_PASSWORD": PORTAL_PASSWORD}
    run_manage(environment, "createsuperuser", "--noinput", "--username", PORTAL_USER, "--email", "a@example.com")
    first, second = cluster.worker_ports
    attacker, colleague = an_address(), an_address()
    assert [portal_login(cluster, first, attacker, "wrong") for _ in range(2)] == [200, 200]
    assert portal_login(cluster, second, attacker, "wrong") == 429  # the third failure locks the pair out
    assert portal_login(cluster, first, attacker, PORTAL_PASSWORD) == 429  # the right password changes nothing
    assert portal_login(cluster, second, colleague, PORTAL_PASSWORD) == 302  # another address logs in


# -- the channel layer -----------------------------------------------------------------------------


class DirectAssistant(VirtualEnterpriseAssistant):
    """amtsim's EA, connected straight to one worker with the header HAProxy adds."""

    def _headers(self) -> list[tuple[str, str]]:
        return [*super()._headers(), ("X-Forwarded-Proto", "https")]


async def request_from(port: int, device: str) -> dict[str, str]:
    async with connect(
        f"ws://127.0.0.1:{port}/test/ea-request", additional_headers={"X-Forwarded-Proto": "https"}
    ) as requester:
        await requester.send(json.dumps({"tenant": EA_TENANT, "device": device}))
        return dict(json.loads(await asyncio.wait_for(requester.recv(), 20)))


async def test_an_ea_on_one_worker_answers_a_request_made_on_the_other(cluster: Cluster) -> None:
    first, second = cluster.worker_ports
    assistant = DirectAssistant(f"ws://127.0.0.1:{second}/ea", credentials=(EA_USER, EA_PASSWORD))
    assistant.start()
    try:
        await assistant.wait_connected()
        answer = await request_from(first, "desktop-07")
    finally:
        await assistant.stop()
    assert [request["subaction"] for request in assistant.received] == [PROFILE_REQUEST]
    given = assistant.accounts[0]
    assert answer == {
        "username": given.username,
        "password_sha256": hashlib.sha256(given.password.encode()).hexdigest(),
    }
    # Once the EA has gone, the other worker says so instead of waiting.
    assert "no Enterprise Assistant is connected" in (await request_from(first, "desktop-08"))["error"]


LIVE_USER, LIVE_PASSWORD = "cluster-live", "Portal-" + random_source.token_hex(12)


def portal_session_cookie(port: int) -> str:
    """A logged-in portal session (a superuser's), from one worker's login form."""
    base = f"http://127.0.0.1:{port}"
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": an_address(), "Referer": f"https://127.0.0.1:{port}/"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        form = client.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None, form.text[:500]
        csrf_cookie = form.headers["set-cookie"].split(";", 1)[0]  # Secure: sent back by hand over http
        answer = client.post(
            "/admin/login/?next=/admin/",
            data={"username": LIVE_USER, "password": LIVE_PASSWORD, "csrfmiddlewaretoken": token.group(1)},
            headers={"Cookie": csrf_cookie},
        )
        assert answer.status_code == 302, answer.text[:500]
        cookies = [header.split(";", 1)[0] for header in answer.headers.get_list("set-cookie")]
        return "; ".join(cookie for cookie in cookies if cookie.startswith("sessionid="))


async def portal_socket(port: int, cookie: str) -> ClientConnection:
    """The portal's live socket on one worker, as the dashboard opens it (through HAProxy's headers)."""
    return await connect(
        f"ws://127.0.0.1:{port}/portal/live",
        origin=f"https://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie, "X-Forwarded-Proto": "https"},
        open_timeout=10,
    )


async def session_heard(socket: ClientConnection, guid: str) -> list[dict[str, object]]:
    """The events of `guid`'s session, up to its end (other sessions' events are skipped)."""
    heard: list[dict[str, object]] = []
    while not heard or heard[-1]["kind"] != "ended":
        event = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if event["guid"] == guid:
            heard.append(event)
    return heard


async def test_a_portal_socket_hears_a_session_run_on_the_other_worker(cluster: Cluster) -> None:
    """Issue #16: a portal socket on each worker, one activation through HAProxy (on whichever worker
    it lands): both sockets hear every step, so one of them heard it through Redis."""
    environment = {**cluster.settings(), "DJANGO_SUPERUSER_PASSWORD": LIVE_PASSWORD}
    run_manage(environment, "createsuperuser", "--noinput", "--username", LIVE_USER, "--email", "l@example.com")
    first, second = cluster.worker_ports
    cookie = portal_session_cookie(first)
    sockets = [await portal_socket(port, cookie) for port in (first, second)]
    profile = create_ccm_profile(cluster)
    device = VirtualAmtDevice(DeviceIdentity())
    guid = device.identity.uuid.lower()
    argv = ["activate", "-u", cluster.wss, "-profile", profile, "-cafile", str(cluster.ca_file)]
    try:
        async with serve_device(device) as endpoint:
            listening = [asyncio.create_task(session_heard(socket, guid)) for socket in sockets]
            result = await run_rpc(argv, device_endpoint=endpoint)
            heard = await asyncio.gather(*listening)
    finally:
        for socket in sockets:
            await socket.close()
    assert result.exit_code == 0, result.message
    on_first, on_second = heard
    assert on_first == on_second
    assert on_first[0]["kind"] == "started" and on_first[-1]["outcome"] == "success"
    steps = [event["name"] for event in on_first if event["kind"] == "step"]
    assert "IPS_HostBasedSetupService.Setup" in steps and "register with MPS" in steps
    served_by = [port for port in (first, second) if guid in cluster.log(f"worker-{port}.log")]
    assert len(served_by) == 1, "the session ran on one worker; the other worker's socket heard it through Redis"


def test_the_worker_health_check_is_not_served_to_clients(cluster: Cluster) -> None:
    with httpx.Client(verify=cluster.ssl_context()) as client:
        assert client.get(f"{cluster.https}/healthz").status_code == 404
    for port in cluster.worker_ports:
        direct_answer = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert (direct_answer.status_code, direct_answer.json()) == (200, {"status": "serving"})


def test_the_state_directory_keeps_its_secrets_to_itself(cluster: Cluster) -> None:
    for name in ("cluster.json", "worker.env.json", "token", "tls/haproxy.pem"):
        assert (Path(cluster.state) / name).stat().st_mode & 0o077 == 0, name
