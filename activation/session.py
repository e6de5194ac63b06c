"""`AmtSession`: the one object flows talk to (protocol.md §3).

It turns a `WsmanCall` into the raw HTTP/1.1 request of §3.1, hands it to a `DeviceTransport`
(the Channels consumer sends it as a `wsman` message and awaits the client's `response`; tests
answer in process), parses the HTTP answer, de-chunks it exactly once (correction 1), handles
HTTP digest authentication (§3.3 with corrections 5 and 6) and applies the retry rules of §3.6
with correction 2: Setup, AdminSetup and UpgradeClientToAdmin are never sent twice.

Nothing here logs request or response bytes: they carry password hashes, the MEBx password and
Wi-Fi keys. Errors name the call, never its content.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from activation.wsman.call import Enumeration, WsmanCall
from activation.wsman.response import UnsafeXml, WsmanFault, WsmanParseError, parse_fault, parse_soap
from metrics.registry import WSMAN_ROUND_TRIP
from rps_site.sensitive import Secret

logger = logging.getLogger(__name__)

T = TypeVar("T")

AMT_HTTP_PORT: Final = 16992
AMT_TLS_PORT: Final = 16993
WSMAN_PATH: Final = "/wsman"
DEFAULT_WSMAN_TIMEOUT: Final = 12.0  # delay_timer
DEFAULT_RETRY_DELAY: Final = 15.0  # delay_tls_timer
DEFAULT_MAX_ATTEMPTS: Final = 3  # wsman_max_attempts
MAX_REJECTED_LOGINS: Final = 2  # a third 401 in a row ends the call: upstream's unauthCount of 3


class DeviceTransport(Protocol):
    """Carries one raw HTTP request to AMT and brings back AMT's raw answer.

    The consumer implements it: send `protocol.wsman_message(http_request)`, await the next
    `response` message and return its decoded payload bytes. Raise `TimeoutError` when nothing
    arrives within `timeout` seconds (rpc-go stays silent when AMT does not answer), and
    `DeviceConnectionReset` on a `connection_reset` message. A `response` that arrives while no
    request is outstanding (a late answer to a timed-out request) must be dropped, not kept for
    the next request: nothing on the wire correlates an answer with its request.

    A transport that relays a client may count every frame that client sends (`frames_received`,
    late answers included): a call that times out on every attempt with the count unchanged tells
    a silent client from a slow device.
    """

    async def exchange(self, http_request: bytes, *, timeout: float) -> bytes: ...


# ---------------------------------------------------------------------------------------------
# Errors: each says which call failed and carries upstream's failure text for the status JSON
# ---------------------------------------------------------------------------------------------


class AmtSessionError(Exception):
    """Base of the session's errors. `failure_text` is what upstream reports for this cause."""

    failure_text: str = "Unknown error has occured"  # [sic], upstream's text (§6.4)

    def __init__(self, call_name: str, detail: str) -> None:
        super().__init__(f"{call_name}: {detail}")
        self.call_name = call_name


class DeviceConnectionReset(Exception):
    """The client reported `connection_reset`: its local AMT connection closed (retryable)."""


class DeviceStoppedAnswering(Exception):
    """A call went unanswered through all its attempts and the client sent nothing at all meanwhile:
    the relay is gone or hung, and every further call would wait as long. Ends the session; it is
    deliberately not an `AmtSessionError`, which configuration steps catch to carry on."""

    def __init__(self, call_name: str, silent_seconds: float) -> None:
        self.call_name = call_name
        self.client_text = (
            f"The device stopped answering at {call_name}: nothing from the client for {silent_seconds:.0f} s"
        )
        super().__init__(self.client_text)


class AmtTimeout(AmtSessionError):
    """No answer within the timeout, on every attempt."""


class NonIdempotentCallUnconfirmed(AmtSessionError):
    """A call that must not be resent was sent once and its answer lost or unreadable: the
    caller must read the device state (e.g. `IPS_HostBasedSetupService.CurrentControlMode`)."""


class NonIdempotentCallTimedOut(NonIdempotentCallUnconfirmed, AmtTimeout):
    """Setup/AdminSetup/UpgradeClientToAdmin got no answer in time (correction 2)."""


class AmtUnauthorized(AmtSessionError):
    failure_text = "Unable to authenticate with AMT"


class AmtHttpError(AmtSessionError):
    """A status other than 200 and 401 without a SOAP fault (e.g. an HTML 400 or a 500)."""

    def __init__(self, call_name: str, status: int, reason: str) -> None:
        super().__init__(call_name, f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        if status == 400:
            self.failure_text = "Bad Request"


class AmtResponseMalformed(AmtSessionError):
    """The bytes back are not an HTTP response (e.g. truncated by rpc-go's 100 ms idle cut)."""


# ---------------------------------------------------------------------------------------------
# HTTP framing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = field(repr=False)


def build_http_request(*, host: str, body: bytes, authorization: str | None, connection_close: bool = True) -> bytes:
    """§3.1: Authorization first (once a challenge is known), Host, chunked body in one chunk
    whose size is the byte length of the UTF-8 body (profile data may be non-ASCII)."""
    lines = ["POST /wsman HTTP/1.1"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines.append(f"Host: {host}")
    lines.append("Transfer-Encoding: chunked")
    if connection_close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + f"{len(body):X}\r\n".encode("ascii") + body + b"\r\n0\r\n\r\n"


_STATUS_LINE: Final = re.compile(rb"^HTTP/1\.[01] (\d{3})(?: (.*))?$")


def parse_http_response(raw: bytes) -> HttpResponse:
    """Parse AMT's answer; a chunked body is de-chunked here and only here (correction 1)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    if not separator:
        raise AmtResponseMalformed("HTTP", "no end of headers")
    lines = head.split(b"\r\n")
    status_match = _STATUS_LINE.match(lines[0])
    if status_match is None:
        raise AmtResponseMalformed("HTTP", "no HTTP status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise AmtResponseMalformed("HTTP", "header line without a colon")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(rest)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise AmtResponseMalformed("HTTP", "Content-Length is not a number") from None
        if length < 0 or len(rest) < length:
            raise AmtResponseMalformed("HTTP", "body shorter than Content-Length")
        body = rest[:length]
    else:
        body = rest  # Connection: close delimits the body
    return HttpResponse(
        status=int(status_match.group(1)),
        reason=(status_match.group(2) or b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def dechunk(data: bytes) -> bytes:
    """RFC 9112 chunked coding; the terminating zero-size chunk must be present."""
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise AmtResponseMalformed("HTTP", "chunked body ends inside a chunk size line")
        size_text = data[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise AmtResponseMalformed("HTTP", "chunk size is not hexadecimal") from None
        position = line_end + 2
        if size == 0:
            return bytes(body)  # trailers, if any, are ignored
        if len(data) < position + size + 2 or data[position + size : position + size + 2] != b"\r\n":
            raise AmtResponseMalformed("HTTP", "chunk shorter than its size")
        body += data[position : position + size]
        position += size + 2


# ---------------------------------------------------------------------------------------------
# HTTP digest (RFC 2617 as AMT uses it, §3.3)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestChallenge:
    realm: str
    nonce: str
    qop: str | None
    opaque: str | None = None


_CHALLENGE_PARAMETER: Final = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*,?')


def parse_digest_challenge(header: str) -> DigestChallenge | None:
    """`Digest realm="…", nonce="…",stale="false",qop="auth"` (separators vary on AMT)."""
    scheme, _, parameters_text = header.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    parameters = {
        match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
        for match in _CHALLENGE_PARAMETER.finditer(parameters_text)
    }
    if "realm" not in parameters or "nonce" not in parameters:
        return None
    # §3.3 step 3: when qop is offered, use "auth" (AMT offers nothing else).
    return DigestChallenge(
        realm=parameters["realm"],
        nonce=parameters["nonce"],
        qop="auth" if "qop" in parameters else None,
        opaque=parameters.get("opaque"),
    )


def _md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - RFC 2617 digest is MD5


def digest_response(
    *,
    username: str,
    password: Secret,
    realm: str,
    method: str,
    uri: str,
    nonce: str,
    nonce_count: str,
    cnonce: str,
    qop: str | None,
) -> str:
    ha1 = _md5_hex(f"{username}:{realm}:{password.reveal()}")
    ha2 = _md5_hex(f"{method}:{uri}")
    if qop is None:
        return _md5_hex(f"{ha1}:{nonce}:{ha2}")
    return _md5_hex(f"{ha1}:{nonce}:{nonce_count}:{cnonce}:{qop}:{ha2}")


def _new_cnonce() -> str:
    # 12 characters like upstream's; token_hex draws once instead of once per character.
    return secrets.token_hex(6)


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------


@dataclass
class _PreparedRequest:
    data: bytes = field(repr=False)
    authenticated: bool


class AmtSession:
    """One device connection's WS-Man conversation. Not safe for concurrent calls: the wire
    carries one exchange at a time."""

    def __init__(
        self,
        transport: DeviceTransport,
        *,
        device_guid: str,
        username: str,
        password: Secret,
        port: int = AMT_HTTP_PORT,
        wsman_timeout: float = DEFAULT_WSMAN_TIMEOUT,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connection_close: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_cnonce: Callable[[], str] = _new_cnonce,
    ) -> None:
        self._transport = transport
        self.device_guid = device_guid
        self.port = port
        self.username = username
        self._password = password
        self.wsman_timeout = wsman_timeout
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self._connection_close = connection_close
        self._sleep = sleep
        self._new_cnonce = new_cnonce
        self._challenge: DigestChallenge | None = None
        self._nonce_count = 0
        self._message_id = 0

    def __repr__(self) -> str:
        return f"AmtSession(device_guid={self.device_guid!r}, username={self.username!r})"

    @property
    def challenge(self) -> DigestChallenge | None:
        return self._challenge

    def expect_device_certificate(self, leaf_der: bytes) -> None:
        """RPS just installed this TLS certificate on the device (§4.9): over a TLS tunnel, every
        session opened from now on must present exactly it (§5.4, pinning). On the plain port
        there is no TLS session to check."""
        trust = getattr(self._transport, "pin_leaf", None)
        if trust is not None:
            trust(leaf_der)

    def presented_certificate(self) -> bytes | None:
        """The TLS leaf (DER) the device presented in the tunnel's current session; None on the
        plain port, where there is no TLS session to read it from."""
        return getattr(self._transport, "presented_leaf", None)

    def use_credentials(self, username: str, password: Secret) -> None:
        """After Setup/AdminSetup or a password change (§3.3 step 1): same challenge and realm."""
        self.username = username
        self._password = password

    async def call(self, call: WsmanCall[T]) -> T:
        """Send one WS-Man call and return its parsed answer.

        Raises `WsmanFault` (SOAP fault), `AmtUnauthorized`, `AmtTimeout`, `DeviceStoppedAnswering`
        (every attempt timed out and the client sent nothing), `NonIdempotentCallUnconfirmed`/
        `NonIdempotentCallTimedOut`, `AmtHttpError`, `AmtResponseMalformed` (unreadable after every
        attempt) and `UnsafeXml` (never retried).
        """
        attempts_left = 1 if call.non_idempotent else self.max_attempts
        rejected_logins = 0
        timeout = call.timeout if call.timeout is not None else self.wsman_timeout
        request = self._prepare(call)
        started, frames_before = time.monotonic(), self._frames_received()
        while True:
            try:
                sent = time.monotonic()
                raw = await self._transport.exchange(request.data, timeout=timeout)
                WSMAN_ROUND_TRIP.labels(call.name).observe(time.monotonic() - sent)
            except (TimeoutError, DeviceConnectionReset) as error:
                timed_out = isinstance(error, TimeoutError)
                if call.non_idempotent:
                    logger.warning("%s: no answer, not resent (device %s)", call.name, self.device_guid)
                    if timed_out:
                        raise NonIdempotentCallTimedOut(call.name, "no answer; not resent") from None
                    raise NonIdempotentCallUnconfirmed(call.name, "connection reset; not resent") from None
                attempts_left -= 1
                if attempts_left <= 0:
                    if frames_before is not None and self._frames_received() == frames_before:
                        logger.warning(
                            "%s: the client sent nothing through every attempt (device %s)", call.name, self.device_guid
                        )
                        raise DeviceStoppedAnswering(call.name, time.monotonic() - started) from None
                    raise AmtTimeout(call.name, f"no answer after {self.max_attempts} attempts") from None
                logger.info("%s: %s, retrying in %ss", call.name, "timeout" if timed_out else "reset", self.retry_delay)
                await self._sleep(self.retry_delay)
                if not timed_out:
                    # §3.6/§5.3: after a reset the request is re-wrapped (new nc and cnonce); resent
                    # bytes would replay a digest nonce count, which AMT refuses with a 401.
                    request = self._prepare(call)
                continue  # §3.6: a timeout retry resends the identical bytes

            try:
                response = parse_http_response(raw)
                if response.status == 200:
                    return call.parse(parse_soap(response.body))
            except UnsafeXml:
                raise
            except (AmtResponseMalformed, WsmanParseError) as error:
                if call.non_idempotent:
                    raise NonIdempotentCallUnconfirmed(call.name, f"unreadable answer: {error}") from None
                attempts_left -= 1
                if attempts_left <= 0:
                    raise AmtResponseMalformed(call.name, f"unreadable answer: {error}") from None
                logger.info("%s: unreadable answer, retrying", call.name)
                continue  # a parse retry resends the identical bytes, at once

            if response.status == 401:
                challenge = parse_digest_challenge(response.headers.get("www-authenticate", ""))
                if challenge is None:
                    raise AmtUnauthorized(call.name, "401 without a usable digest challenge")
                self._challenge = challenge  # correction 5: always keep the latest challenge
                if request.authenticated:
                    rejected_logins += 1
                    if rejected_logins >= MAX_REJECTED_LOGINS:
                        raise AmtUnauthorized(call.name, f"credentials of {self.username!r} refused")
                request = self._prepare(call)  # correction 6: a 401 retry rebuilds the request
                continue

            fault = parse_fault(response.body)
            if fault is not None:
                raise fault
            raise AmtHttpError(call.name, response.status, response.reason)

    async def enumerate(self, enumeration: Enumeration[T]) -> list[T]:
        """Enumerate, then Pull until EndOfSequence."""
        context: str | None = await self.call(enumeration.enumerate_call())
        items: list[T] = []
        while context is not None:
            page = await self.call(enumeration.pull_call(context))
            items.extend(enumeration.items_of(page))
            context = page.next_context
        return items

    def _frames_received(self) -> int | None:
        return getattr(self._transport, "frames_received", None)

    def _prepare(self, call: WsmanCall[T]) -> _PreparedRequest:
        body = call.request.render(self._message_id).encode("utf-8")
        self._message_id += 1
        authorization = self._authorization() if self._challenge is not None else None
        data = build_http_request(
            host=f"{self.device_guid}:{self.port}",
            body=body,
            authorization=authorization,
            connection_close=self._connection_close,
        )
        return _PreparedRequest(data=data, authenticated=authorization is not None)

    def _authorization(self) -> str:
        challenge = self._challenge
        assert challenge is not None
        self._nonce_count += 1
        nonce_count = f"{self._nonce_count:08x}"
        cnonce = self._new_cnonce()
        response = digest_response(
            username=self.username,
            password=self._password,
            realm=challenge.realm,
            method="POST",
            uri=WSMAN_PATH,
            nonce=challenge.nonce,
            nonce_count=nonce_count,
            cnonce=cnonce,
            qop=challenge.qop,
        )
        # §3.3 step 5: no spaces after commas, every value quoted (qop and nc too).
        parts = [
            f'username="{self.username}"',
            f'realm="{challenge.realm}"',
            f'nonce="{challenge.nonce}"',
            f'uri="{WSMAN_PATH}"',
        ]
        if challenge.qop is not None:
            parts.append(f'qop="{challenge.qop}"')
        parts.append(f'response="{response}"')
        if challenge.qop is not None:
            parts += [f'nc="{nonce_count}"', f'cnonce="{cnonce}"']
        if challenge.opaque is not None:
            parts.append(f'opaque="{challenge.opaque}"')
        return "Digest " + ",".join(parts)


__all__ = [
    "AMT_HTTP_PORT",
    "AMT_TLS_PORT",
    "AmtHttpError",
    "AmtResponseMalformed",
    "AmtSession",
    "AmtSessionError",
    "AmtTimeout",
    "AmtUnauthorized",
    "DeviceConnectionReset",
    "DeviceStoppedAnswering",
    "DeviceTransport",
    "DigestChallenge",
    "HttpResponse",
    "NonIdempotentCallTimedOut",
    "NonIdempotentCallUnconfirmed",
    "UnsafeXml",
    "WsmanFault",
    "WsmanParseError",
    "build_http_request",
    "dechunk",
    "digest_response",
    "parse_digest_challenge",
    "parse_http_response",
]
