"""A virtual Enterprise Assistant: a WebSocket client to the server under test that answers the
three EA requests like the real one (enterprise-assistant.md §2, §11), with a small CA in place
of the Microsoft CA and an account book in place of Active Directory.

Like the stock EA it sends no Origin, its credentials (if any) in `x-meshauth`, says
`{"action":"satellite","setFlags":3}` on every connection, answers only on success (any error
is recorded in `errors` and nothing is sent), and reconnects when its connection drops.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
import ssl
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from amtsim.enterprise_assistant.faults import (
    CSR_RESPONSE,
    KEY_PAIR_RESPONSE,
    PROFILE_REQUEST,
    EaFault,
    EaFaultKind,
)
from amtsim.faults import FaultPlan
from amtsim.pkcs10 import null_signed_request, rsa_public_key_from_pkcs1
from amtsim.pki import EnterpriseCa, make_enterprise_ca

logger = logging.getLogger(__name__)

EAP_TLS, PEAP_MSCHAPV2 = 0, 2
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "+/"


class ReplyStyle(Enum):
    """Which EA the replies imitate (§2.6): only the subaction names and one body differ."""

    CURRENT = "ea"  # device-management-toolkit/enterprise-assistant
    OLDER = "ea1"  # open-amt-cloud-toolkit/enterprise-assistant

    def name_of(self, reply: str) -> str:
        return reply if self is ReplyStyle.CURRENT else f"802.1x-{reply}"


@dataclass(frozen=True)
class AccountGiven:
    """A PEAP account the EA made (in AD, for the real one) and handed out."""

    node_id: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class CertificateIssued:
    node_id: str
    certificate: x509.Certificate


def peap_password() -> str:
    """20 characters of the base64 alphabet with a digit, a lower, an upper and + or / (§11.2)."""
    while True:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(20))
        classes = (string.digits, string.ascii_lowercase, string.ascii_uppercase, "+/")
        if all(any(character in chosen for character in password) for chosen in classes):
            return password


def _without(message: dict[str, Any], path: str) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    copy = dict(message)
    if not rest:
        copy.pop(head, None)
    elif isinstance(copy.get(head), dict):
        copy[head] = _without(copy[head], rest)
    return copy


def _with(message: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    copy = dict(message)
    if not rest:
        copy[head] = value
    else:
        inner = copy.get(head)
        copy[head] = _with(inner if isinstance(inner, dict) else {}, rest, value)
    return copy


class VirtualEnterpriseAssistant:
    def __init__(
        self,
        url: str,
        *,
        credentials: tuple[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        reply_style: ReplyStyle = ReplyStyle.CURRENT,
        ca: EnterpriseCa | None = None,
        domain: str = "fake.test",
        reconnect: bool = True,
        reconnect_delay: float = 1.0,
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.ssl_context = ssl_context
        self.reply_style = reply_style
        self.ca = ca or make_enterprise_ca()
        self.domain = domain
        self.reconnect = reconnect
        self.reconnect_delay = reconnect_delay
        self.faults: FaultPlan[EaFault] = FaultPlan[EaFault]()
        self.received: list[dict[str, Any]] = []  # every request, verbatim, in order
        self.accounts: list[AccountGiven] = []
        self.issued: list[CertificateIssued] = []
        self.errors: list[str] = []  # why a request went unanswered (the real EA only logs it)
        self.refusals: list[int] = []  # HTTP statuses of refused connection attempts
        self.connections = 0
        self.connected = asyncio.Event()
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}  # by nodeid, from the key-pair step
        self._connection: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._replies: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Close the connection as the EA does when it stops (1000), and stay away."""
        self.reconnect = False
        if self._connection is not None:
            await self._connection.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for task in list(self._replies):
            task.cancel()

    async def disconnect(self) -> None:
        """Drop the current connection (the EA reconnects afterwards if `reconnect` is on)."""
        if self._connection is not None:
            await self._connection.close()

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.connected.wait(), timeout)

    def _headers(self) -> list[tuple[str, str]]:
        if self.credentials is None:
            return []
        user, password = (base64.b64encode(part.encode()).decode() for part in self.credentials)
        return [("x-meshauth", f"{user},{password}")]

    async def _run(self) -> None:
        while True:
            try:
                async with connect(
                    self.url,
                    ssl=self.ssl_context,
                    additional_headers=self._headers(),
                    user_agent_header=None,
                    proxy=None,
                    ping_interval=None,  # the EA's own ping timer is off by default
                    max_size=None,
                ) as connection:
                    self._connection = connection
                    self.connections += 1
                    self.connected.set()
                    await connection.send(json.dumps({"action": "satellite", "setFlags": 3}))
                    async for frame in connection:
                        self._on_frame(connection, frame)
            except InvalidStatus as refused:
                self.refusals.append(refused.response.status_code)
            except (OSError, WebSocketException, TimeoutError) as lost:
                logger.info("virtual EA connection ended: %s", lost)
            finally:
                self._connection = None
                self.connected.clear()
            if not self.reconnect:
                return
            await asyncio.sleep(self.reconnect_delay)

    def _on_frame(self, connection: ClientConnection, frame: str | bytes) -> None:
        try:
            message = json.loads(frame)
        except ValueError:
            self.errors.append("a frame that is not JSON")
            return
        if not isinstance(message, dict):
            self.errors.append("a frame that is not a JSON object")
            return
        self.received.append(message)
        task = asyncio.create_task(self._answer(connection, message))
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)

    # -- answering ---------------------------------------------------------------------------

    async def _answer(self, connection: ClientConnection, message: dict[str, Any]) -> None:
        fault = self.faults.take(str(message.get("subaction")))
        if fault is not None and fault.kind is EaFaultKind.DISCONNECT:
            await connection.close()
            return
        if fault is not None and fault.kind is EaFaultKind.SILENT:
            return
        reply = self._reply_to(message)
        if reply is None:
            return
        frames = [json.dumps(self._mutated(reply, fault))]
        if fault is not None and fault.kind is EaFaultKind.NOT_JSON:
            frames = ["{not json", *(frames if fault.then_reply else [])]
        elif fault is not None and fault.kind is EaFaultKind.DUPLICATE:
            frames = frames * 2
        elif fault is not None and fault.kind is EaFaultKind.DELAY:
            await asyncio.sleep(fault.seconds)
        with contextlib.suppress(ConnectionClosed):
            for frame in frames:
                await connection.send(frame)

    @staticmethod
    def _mutated(reply: dict[str, Any], fault: EaFault | None) -> dict[str, Any]:
        if fault is None:
            return reply
        if fault.kind is EaFaultKind.MALFORMED:
            return _without(reply, fault.path)
        if fault.kind is EaFaultKind.CHANGE:
            return _with(reply, fault.path, fault.value)
        if fault.kind is EaFaultKind.WRONG_SUBACTION:
            return {**reply, "subaction": fault.value}
        if fault.kind is EaFaultKind.WRONG_NODEID:
            return {**reply, "nodeid": "00000000-0000-4000-8000-000000000000"}
        return reply

    def _reply_to(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The real EA's answer, or None (with the reason in `errors`) where it would stay silent."""
        if message.get("action") != "satellite" or message.get("satelliteFlags") != 2:
            self.errors.append("not an 802.1X satellite request")
            return None
        for required in ("nodeid", "domain", "reqid"):
            if not isinstance(message.get(required), str):
                self.errors.append(f"{required} missing")
                return None
        subaction = message.get("subaction")
        if subaction == PROFILE_REQUEST:
            return self._profile(message)
        if subaction == KEY_PAIR_RESPONSE:
            return self._certificate_request(message)
        if subaction == CSR_RESPONSE:
            return self._certificate(message)
        self.errors.append(f"unknown subaction {subaction!r}")
        return None

    def _header(self, message: dict[str, Any], subaction: str) -> dict[str, Any]:
        return {
            "action": "satellite",
            "satelliteFlags": 2,
            "nodeid": message["nodeid"],
            "domain": message["domain"],
            "subaction": subaction,
            "reqid": message["reqid"],
        }

    def _device_name(self, message: dict[str, Any]) -> str:
        return str(message.get("devname") or message["nodeid"])

    def _profile(self, message: dict[str, Any]) -> dict[str, Any] | None:
        protocol = message.get("authProtocol")
        if protocol == EAP_TLS:
            # The current EA builds a KeyPair-Request and then sends the request itself (§2.6).
            if self.reply_style is ReplyStyle.CURRENT:
                return dict(message)
            return self._header(message, "802.1x-KeyPair-Request")
        if protocol == PEAP_MSCHAPV2:
            account = AccountGiven(message["nodeid"], f"iME${self._device_name(message)}$", peap_password())
            self.accounts.append(account)
            response = {
                "authProtocol": PEAP_MSCHAPV2,
                "domain": self.domain,
                "username": account.username,
                "password": account.password,
                "rootcert": base64.b64encode(self.ca.root_der()).decode(),
            }
            return {**message, "subaction": self.reply_style.name_of("Profile-Completed"), "response": response}
        self.errors.append(f"802.1X protocol {protocol!r} is not supported")
        return None

    def _certificate_request(self, message: dict[str, Any]) -> dict[str, Any] | None:
        try:
            public_key = rsa_public_key_from_pkcs1(base64.b64decode(str(message.get("DERKey")), validate=True))
        except (ValueError, binascii.Error):
            self.errors.append("DERKey is not a PKCS#1 RSA public key")
            return None
        if not isinstance(message.get("keyInstanceId"), str):
            self.errors.append("keyInstanceId missing")
            return None
        self._public_keys[message["nodeid"]] = public_key
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._device_name(message))])
        response = {
            "csr": base64.b64encode(null_signed_request(public_key, subject)).decode(),
            "keyInstanceId": message["keyInstanceId"],
        }
        return {**self._header(message, self.reply_style.name_of("CSR-Request")), "response": response}

    def _certificate(self, message: dict[str, Any]) -> dict[str, Any] | None:
        try:
            request = x509.load_der_x509_csr(base64.b64decode(str(message.get("signedcsr")), validate=True))
        except (ValueError, binascii.Error):
            self.errors.append("signedcsr is not a DER PKCS#10 request")
            return None
        # A CA refuses a request whose signature does not verify; the key must be AMT's from the
        # key-pair step of this nodeid.
        if not request.is_signature_valid:
            self.errors.append("signedcsr's signature does not verify")
            return None
        if request.public_key() != self._public_keys.get(message["nodeid"]):
            self.errors.append("signedcsr is not for the key pair sent for this nodeid")
            return None
        certificate = self.ca.issue(request)
        self.issued.append(CertificateIssued(message["nodeid"], certificate))
        response = {
            "authProtocol": EAP_TLS,
            "certificate": base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode(),
            "rootcert": base64.b64encode(self.ca.root_der()).decode(),
            "domain": self.domain,
            "username": f"iME${self._device_name(message)}$",
        }
        return {**message, "subaction": self.reply_style.name_of("Profile-Completed"), "response": response}


@contextlib.asynccontextmanager
async def running_enterprise_assistant(
    url: str, *, wait: bool = True, **options: Any
) -> AsyncIterator[VirtualEnterpriseAssistant]:
    """A started virtual EA; with `wait`, connected before the block runs."""
    assistant = VirtualEnterpriseAssistant(url, **options)
    assistant.start()
    try:
        if wait:
            await assistant.wait_connected()
        yield assistant
    finally:
        await assistant.stop()
