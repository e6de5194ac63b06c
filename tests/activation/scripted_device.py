"""A scripted stand-in for AMT behind rpc-go, for session and flow tests.

Not a simulator (amtsim is): it checks HTTP digest like AMT, then answers each authenticated
request with the next scripted answer — usually a recorded fixture file wrapped in AMT's chunked
HTTP 200 — and records what it was sent so tests can assert on the calls made.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.shared_reference import wsman_fixture

REALM = "Digest:A4070000000000000000000000000000"


def fixture(name: str) -> bytes:
    return wsman_fixture(name)


def chunked_http(status: str, body: bytes, *, chunk_size: int = 700) -> bytes:
    """AMT's framing of a WS-Man answer: chunked, several chunks (correction 1)."""
    head = (
        f"HTTP/1.1 {status}\r\nServer: Intel(R) Active Management Technology 15.0.23.1706\r\n"
        "Content-Type: application/soap+xml; charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunks = b"".join(
        f"{len(body[i : i + chunk_size]):04X}\r\n".encode() + body[i : i + chunk_size] + b"\r\n"
        for i in range(0, len(body), chunk_size)
    )
    return head + chunks + b"0\r\n\r\n"


def ok(name: str) -> bytes:
    return chunked_http("200 OK", fixture(name))


def fault(name: str) -> bytes:
    return chunked_http("400 Bad Request", fixture(name))


def challenge_401(nonce: str, realm: str = REALM) -> bytes:
    return (
        "HTTP/1.1 401 Unauthorized\r\n"
        f'WWW-Authenticate: Digest realm="{realm}", nonce="{nonce}",stale="false",qop="auth"\r\n'
        "Content-Type: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


class NoAnswer:
    """rpc-go sends nothing back (AMT silent for 3 s): the transport times out."""


NO_ANSWER = NoAnswer()
Answer = bytes | NoAnswer | Callable[["ReceivedRequest"], bytes]


@dataclass(frozen=True)
class ReceivedRequest:
    raw: bytes
    headers: dict[str, str]
    body: str

    @property
    def action(self) -> str:
        match = re.search(r"<a:Action>([^<]*)</a:Action>", self.body)
        return match.group(1) if match else ""

    @property
    def message_id(self) -> str:
        match = re.search(r"<a:MessageID>([^<]*)</a:MessageID>", self.body)
        return match.group(1) if match else ""

    @property
    def call_name(self) -> str:
        """`AMT_GeneralSettings.Get`, `IPS_HostBasedSetupService.Setup`, ..."""
        resource = re.search(r"<w:ResourceURI>([^<]*)</w:ResourceURI>", self.body)
        class_name = resource.group(1).rsplit("/", 1)[-1] if resource else "?"
        return f"{class_name}.{self.action.rsplit('/', 1)[-1]}"


def _parse_request(raw: bytes) -> ReceivedRequest:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /wsman HTTP/1.1", lines[0]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers[name.lower()] = value
    assert headers["transfer-encoding"] == "chunked"
    size_line, _, remainder = rest.partition(b"\r\n")
    size = int(size_line, 16)
    body = remainder[:size]
    assert remainder[size:] == b"\r\n0\r\n\r\n", "exactly one chunk then the terminator"
    return ReceivedRequest(raw=raw, headers=headers, body=body.decode("utf-8"))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class ScriptedDevice:
    """Implements `activation.session.DeviceTransport`."""

    username: str
    password: str
    answers: list[Answer]
    realm: str = REALM
    nonce: str = "wlbEK1EtAAAAAAAAWW5aUHFp+mQQ1j63"
    received: list[ReceivedRequest] = field(default_factory=list)
    timeouts_seen: list[float] = field(default_factory=list)
    seen_nonce_counts: list[str] = field(default_factory=list)

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes:
        request = _parse_request(http_request)
        self.received.append(request)
        self.timeouts_seen.append(timeout)
        if not self._authorized(request):
            return challenge_401(self.nonce, self.realm)
        if not self.answers:
            raise AssertionError(f"unexpected call {request.call_name}")
        answer = self.answers.pop(0)
        if isinstance(answer, NoAnswer):
            raise TimeoutError
        if callable(answer):
            return answer(request)
        return answer

    def rotate_nonce(self, nonce: str) -> None:
        """AMT expires nonces: the next request with the old one gets a fresh 401."""
        self.nonce = nonce

    def _authorized(self, request: ReceivedRequest) -> bool:
        header = request.headers.get("authorization")
        if header is None:
            return False
        assert header.startswith("Digest ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
        if fields["nonce"] != self.nonce or fields["realm"] != self.realm or fields["username"] != self.username:
            return False
        self.seen_nonce_counts.append(fields["nc"])
        ha1 = _md5(f"{self.username}:{self.realm}:{self.password}")
        ha2 = _md5("POST:/wsman")
        expected = _md5(f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
        return fields["response"] == expected

    @property
    def call_names(self) -> list[str]:
        return [request.call_name for request in self.received if "authorization" in request.headers]
