"""amtsim's virtual Enterprise Assistant against a small WebSocket server playing RPS
(enterprise-assistant.md §1.1, §2, §11): how it connects, its replies in both EA styles, the CA
behind it, its fault switches, and its command line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from amtsim.enterprise_assistant import (
    CSR_RESPONSE,
    KEY_PAIR_RESPONSE,
    PROFILE_REQUEST,
    EaFault,
    EaFaultKind,
    ReplyStyle,
    VirtualEnterpriseAssistant,
    running_enterprise_assistant,
)
from amtsim.pkcs10 import null_signed_request, rsa_public_key_from_pkcs1
from amtsim.pki import make_enterprise_ca
from tests.amtsim.test_ieee8021x_certificates import SUBJECT, activated, add, generate_key_pair, sign

REPOSITORY = Path(__file__).resolve().parents[2]
CREDENTIALS = ("ea-user", "ea-password-0123456789")
NODE = "9b7c0f1e-3c2d-4a53-a1f0-2d5b8e6c4f10"


@dataclass
class RpsSide:
    """The server end: every EA connection's upgrade headers and socket, in order."""

    url: str = ""
    handshakes: list[Headers] = field(default_factory=list)
    connections: asyncio.Queue[ServerConnection] = field(default_factory=asyncio.Queue)

    async def next_connection(self) -> ServerConnection:
        return await asyncio.wait_for(self.connections.get(), 5)


@contextlib.asynccontextmanager
async def rps_side(*, refuse: bool = False) -> AsyncIterator[RpsSide]:
    side = RpsSide()

    def check(connection: ServerConnection, request: Request) -> Response | None:
        side.handshakes.append(request.headers)
        return connection.respond(403, "refused\n") if refuse else None

    async def handler(connection: ServerConnection) -> None:
        await side.connections.put(connection)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0, process_request=check) as server:
        port = server.sockets[0].getsockname()[1]
        side.url = f"ws://127.0.0.1:{port}/ea"
        yield side


async def receive(connection: ServerConnection, timeout: float = 3.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(connection.recv(), timeout)))


async def ask(connection: ServerConnection, message: dict[str, Any]) -> dict[str, Any]:
    await connection.send(json.dumps(message))
    return await receive(connection)


def request(subaction: str, **fields: Any) -> dict[str, Any]:
    base = {
        "action": "satellite",
        "subaction": subaction,
        "satelliteFlags": 2,
        "nodeid": NODE,
        "domain": "",
        "reqid": "",
    }
    return {**base, "authProtocol": 0, "osname": "win11", "devname": "desktop-01", "icon": 1, **fields, "ver": ""}


async def test_it_connects_like_the_stock_ea() -> None:
    async with rps_side() as rps, running_enterprise_assistant(rps.url, credentials=CREDENTIALS) as ea:
        connection = await rps.next_connection()
        assert await receive(connection) == {"action": "satellite", "setFlags": 3}
        headers = rps.handshakes[0]
        user, password = (base64.b64decode(part).decode() for part in headers["x-meshauth"].split(","))
        assert (user, password) == CREDENTIALS
        assert "Origin" not in headers and "User-Agent" not in headers
        assert ea.connections == 1


@pytest.mark.parametrize(
    ("style", "subactions"),
    [
        (ReplyStyle.CURRENT, [PROFILE_REQUEST, "CSR-Request", "Profile-Completed"]),
        (ReplyStyle.OLDER, ["802.1x-KeyPair-Request", "802.1x-CSR-Request", "802.1x-Profile-Completed"]),
    ],
)
async def test_eap_tls_certificate_for_the_virtual_devices_key(style: ReplyStyle, subactions: list[str]) -> None:
    device, amt = activated()
    async with rps_side() as rps, running_enterprise_assistant(rps.url, reply_style=style) as ea:
        connection = await rps.next_connection()
        await receive(connection)  # hello
        profile = await ask(connection, request(PROFILE_REQUEST, cert=None, certid=None))
        key_instance_id, der_key = generate_key_pair(amt)
        template = await ask(connection, request(KEY_PAIR_RESPONSE, DERKey=der_key, keyInstanceId=key_instance_id))
        assert template["response"]["keyInstanceId"] == key_instance_id
        signed = sign(amt, key_instance_id, base64.b64decode(template["response"]["csr"]))
        assert signed is not None
        completed = await ask(connection, request(CSR_RESPONSE, signedcsr=signed))
    assert [profile["subaction"], template["subaction"], completed["subaction"]] == subactions
    assert profile["nodeid"] == template["nodeid"] == completed["nodeid"] == NODE
    issued = x509.load_der_x509_certificate(base64.b64decode(completed["response"]["certificate"]))
    root = x509.load_der_x509_certificate(base64.b64decode(completed["response"]["rootcert"]))
    assert root == ea.ca.root and completed["response"]["username"] == "iME$desktop-01$"
    issued.verify_directly_issued_by(root)
    assert issued.subject == SUBJECT
    handle = add(amt, "AddCertificate", issued)
    assert handle is not None
    stored = device.state.certificate(handle)
    assert stored is not None and device.state.key_pair_for(stored.certificate) is device.state.key_pairs[-1]
    assert [message["subaction"] for message in ea.received] == [PROFILE_REQUEST, KEY_PAIR_RESPONSE, CSR_RESPONSE]
    assert [record.certificate for record in ea.issued] == [issued]


async def test_peap_gets_an_account_and_the_root() -> None:
    async with rps_side() as rps, running_enterprise_assistant(rps.url) as ea:
        connection = await rps.next_connection()
        await receive(connection)
        reply = await ask(connection, request(PROFILE_REQUEST, authProtocol=2))
    response = reply["response"]
    assert reply["subaction"] == "Profile-Completed" and response["username"] == "iME$desktop-01$"
    password = response["password"]
    assert len(password) == 20 and set(password) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    )
    assert any(c.isdigit() for c in password) and any(c in "+/" for c in password)
    assert base64.b64decode(response["rootcert"]) == ea.ca.root_der()
    assert [(account.username, account.password) for account in ea.accounts] == [("iME$desktop-01$", password)]


async def test_it_stays_silent_where_the_real_ea_does() -> None:
    device, amt = activated()
    async with rps_side() as rps, running_enterprise_assistant(rps.url) as ea:
        connection = await rps.next_connection()
        await receive(connection)
        key_instance_id, der_key = generate_key_pair(amt)
        foreign = null_signed_request(make_enterprise_ca().root_key.public_key(), SUBJECT)
        for message in (
            request(PROFILE_REQUEST, authProtocol=3),  # PEAPv1/EAP-GTC: nobody answers (§3)
            request(PROFILE_REQUEST, satelliteFlags=1),
            request(KEY_PAIR_RESPONSE, DERKey="not base64!", keyInstanceId="k"),
            request(CSR_RESPONSE, signedcsr=base64.b64encode(foreign).decode()),  # zero signature
            {**request(PROFILE_REQUEST), "nodeid": None},
        ):
            await connection.send(json.dumps(message))
        with pytest.raises(TimeoutError):
            await receive(connection, timeout=0.5)
        # A valid signature for a key other than this nodeid's key pair is refused too.
        await ask(connection, request(KEY_PAIR_RESPONSE, DERKey=der_key, keyInstanceId=key_instance_id))
        other_key_instance, other_der_key = generate_key_pair(amt)
        other = null_signed_request(rsa_public_key_from_pkcs1(base64.b64decode(other_der_key)), SUBJECT)
        signed_for_other = sign(amt, other_key_instance, other)
        await connection.send(json.dumps(request(CSR_RESPONSE, signedcsr=signed_for_other)))
        with pytest.raises(TimeoutError):
            await receive(connection, timeout=0.5)
    assert ea.errors == [
        "802.1X protocol 3 is not supported",
        "not an 802.1X satellite request",
        "DERKey is not a PKCS#1 RSA public key",
        "signedcsr's signature does not verify",
        "nodeid missing",
        "signedcsr is not for the key pair sent for this nodeid",
    ]
    assert ea.issued == []


PEAP = request(PROFILE_REQUEST, authProtocol=2)


Replies = list[dict[str, Any] | None]  # what the server received after one request; None: not JSON


def first(replies: Replies) -> dict[str, Any]:
    assert replies and replies[0] is not None
    return replies[0]


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (EaFault.malformed(PROFILE_REQUEST, "response.password"), lambda r: "password" not in first(r)["response"]),
        (EaFault.malformed(PROFILE_REQUEST), lambda r: "response" not in first(r)),
        (EaFault.change(PROFILE_REQUEST, "response.username", "x"), lambda r: first(r)["response"]["username"] == "x"),
        (EaFault.wrong_subaction(PROFILE_REQUEST, "CSR-Request"), lambda r: first(r)["subaction"] == "CSR-Request"),
        (EaFault.wrong_nodeid(), lambda r: first(r)["nodeid"] != NODE),
        (EaFault.duplicate(), lambda r: len(r) == 2 and r[0] == r[1]),
        (EaFault.not_json(then_reply=True), lambda r: r[0] is None and first(r[1:])["nodeid"] == NODE),
        (EaFault.not_json(), lambda r: r == [None]),
        (EaFault.silent(PROFILE_REQUEST), lambda r: r == []),
    ],
    ids=lambda value: value.kind.value if isinstance(value, EaFault) else "",
)
async def test_fault_switches(fault: EaFault, check: Any) -> None:
    async with rps_side() as rps, running_enterprise_assistant(rps.url) as ea:
        ea.faults.add(fault)
        connection = await rps.next_connection()
        await receive(connection)
        await connection.send(json.dumps(PEAP))
        replies: Replies = []
        with contextlib.suppress(TimeoutError):
            while True:
                frame = await asyncio.wait_for(connection.recv(), 0.5)
                try:
                    replies.append(json.loads(frame))
                except ValueError:
                    replies.append(None)
        assert check(replies), replies
        # It fired once; the next request is answered normally.
        assert [fired.kind for fired in ea.faults.fired] == [fault.kind]
        assert (await ask(connection, PEAP))["subaction"] == "Profile-Completed"


async def test_disconnect_and_delay_switches() -> None:
    async with rps_side() as rps, running_enterprise_assistant(rps.url, reconnect_delay=0.1) as ea:
        ea.faults.add(EaFault.disconnect(KEY_PAIR_RESPONSE))
        ea.faults.add(EaFault.delay(PROFILE_REQUEST, 0.6))
        connection = await rps.next_connection()
        await receive(connection)
        await connection.send(json.dumps(request(KEY_PAIR_RESPONSE, DERKey="x", keyInstanceId="k")))
        await asyncio.wait_for(connection.wait_closed(), 3)  # dropped mid-exchange
        again = await rps.next_connection()  # …and back, as the EA's autoReconnect does
        assert await receive(again) == {"action": "satellite", "setFlags": 3}
        loop = asyncio.get_running_loop()
        started = loop.time()
        await again.send(json.dumps(PEAP))
        with pytest.raises(TimeoutError):
            await receive(again, timeout=0.3)
        assert (await receive(again))["subaction"] == "Profile-Completed"
        assert loop.time() - started >= 0.6
        assert ea.connections == 2


async def test_a_refused_ea_records_the_status_and_tries_again() -> None:
    async with rps_side(refuse=True) as rps:
        ea = VirtualEnterpriseAssistant(rps.url, credentials=CREDENTIALS, reconnect_delay=0.1)
        ea.start()
        for _ in range(50):
            if len(ea.refusals) >= 2:
                break
            await asyncio.sleep(0.05)
        await ea.stop()
    assert ea.refusals[:2] == [403, 403] and ea.connections == 0


def test_command_line_fault_switches() -> None:
    fault = EaFault.from_switch("malformed:key-pair:response.csr")
    assert (fault.kind, fault.subaction, fault.path, fault.times) == (
        EaFaultKind.MALFORMED,
        KEY_PAIR_RESPONSE,
        "response.csr",
        None,
    )
    assert EaFault.from_switch("delay:profile:2.5").seconds == 2.5
    assert EaFault.from_switch("silent").subaction == "*"
    assert EaFault.from_switch("change:csr:response.rootcert=AAAA").value == "AAAA"
    assert EaFault.from_switch("not-json:*:then-reply").then_reply
    with pytest.raises(ValueError):
        EaFault.from_switch("explode:profile")


async def test_the_ea_command(tmp_path: Path) -> None:
    async with rps_side() as rps:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "amtsim",
            "ea",
            "--url",
            rps.url,
            "--auth",
            ":".join(CREDENTIALS),
            "--reply-style",
            "ea1",
            "--fault",
            "silent:key-pair",
            "--write-ca",
            str(tmp_path),
            cwd=REPOSITORY,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        started = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        connection = await rps.next_connection()
        await receive(connection)
        reply = await ask(connection, PEAP)
        await connection.send(json.dumps(request(KEY_PAIR_RESPONSE, DERKey="x", keyInstanceId="k")))
        with pytest.raises(TimeoutError):
            await receive(connection, timeout=0.5)
        process.send_signal(signal.SIGTERM)
        summary = json.loads(await asyncio.wait_for(process.stdout.readline(), 10))
        await process.wait()
    root = x509.load_pem_x509_certificate((tmp_path / "ea-root.pem").read_bytes())
    assert started["ca_subject"] == root.subject.rfc4514_string()
    assert reply["subaction"] == "802.1x-Profile-Completed"
    assert base64.b64decode(reply["response"]["rootcert"]) == root.public_bytes(serialization.Encoding.DER)
    assert rps.handshakes[0]["x-meshauth"].startswith(base64.b64encode(CREDENTIALS[0].encode()).decode())
    assert summary["requests"] == 2 and summary["accounts_given"] == 1 and process.returncode == 0
