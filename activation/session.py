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
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from activation.amt_http import build_http_request, parse_http_response
from activation.digest_auth import DigestChallenge, digest_response, new_cnonce, parse_digest_challenge
from activation.session_errors import (
    AmtHttpError,
    AmtResponseMalformed,
    AmtTimeout,
    AmtUnauthorized,
    DeviceConnectionReset,
    DeviceStoppedAnswering,
    NonIdempotentCallTimedOut,
    NonIdempotentCallUnconfirmed,
)
from activation.wsman.call import Enumeration, WsmanCall
from activation.wsman.response import UnsafeXml, WsmanParseError, parse_fault, parse_soap
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
        new_cnonce: Callable[[], str] = new_cnonce,
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
        self.new_cnonce = new_cnonce
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
                attempts_left -= 1
                await self._wait_to_resend(call, error, attempts_left, started=started, frames_before=frames_before)
                if isinstance(error, DeviceConnectionReset):
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

    async def _wait_to_resend(
        self,
        call: WsmanCall[T],
        error: TimeoutError | DeviceConnectionReset,
        attempts_left: int,
        *,
        started: float,
        frames_before: int | None,
    ) -> None:
        """No answer (a timeout or a reset): raise when the call may not or cannot be resent, else
        wait `retry_delay` before it is."""
        timed_out = isinstance(error, TimeoutError)
        if call.non_idempotent:
            logger.warning("%s: no answer, not resent (device %s)", call.name, self.device_guid)
            if timed_out:
                raise NonIdempotentCallTimedOut(call.name, "no answer; not resent") from None
            raise NonIdempotentCallUnconfirmed(call.name, "connection reset; not resent") from None
        if attempts_left <= 0:
            if frames_before is not None and self._frames_received() == frames_before:
                logger.warning(
                    "%s: the client sent nothing through every attempt (device %s)", call.name, self.device_guid
                )
                raise DeviceStoppedAnswering(call.name, time.monotonic() - started) from None
            raise AmtTimeout(call.name, f"no answer after {self.max_attempts} attempts") from None
        logger.info("%s: %s, retrying in %ss", call.name, "timeout" if timed_out else "reset", self.retry_delay)
        await self._sleep(self.retry_delay)

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
        cnonce = self.new_cnonce()
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
