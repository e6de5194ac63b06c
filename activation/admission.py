"""Who may open a device socket: TLS outside debug, a rate of new connections and a cap on open
sockets per client address (SECURITY.md checks 13 and 23).

The per-address counts live in this process, which is right for one worker. Several workers
need them shared: a Redis implementation of `DeviceAdmission` slots in behind the same two calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings

RATE_WINDOW_SECONDS = 60.0


def insecure_transport(scope: dict[str, Any]) -> str | None:
    """Why a device connection may not go on over this transport, or None when it may.

    The decision is the server's, never the client's: the ASGI `tls` extension that
    `rps_site.serve` sets on connections made over TLS, or, when the operator trusts a
    TLS-terminating proxy (`RPS_TRUST_PROXY_SSL_HEADER`), that proxy's `X-Forwarded-Proto: https`.
    Plain `ws://` is for debug only."""
    if settings.DEBUG or "tls" in (scope.get("extensions") or {}):
        return None
    if settings.TRUST_PROXY_SSL_HEADER and forwarded_proto(scope) == "https":
        return None
    return "device connections need TLS (wss://)"


def forwarded_proto(scope: dict[str, Any]) -> str:
    """The first `X-Forwarded-Proto` value, as Django reads it for `SECURE_PROXY_SSL_HEADER`."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-proto":
            return str(value.decode("latin-1").split(",", 1)[0].strip().lower())
    return ""


class DeviceAdmission(Protocol):
    async def admit(self, address: str) -> str | None:
        """Count a new socket from `address`: the refusal text, or None when admitted, which a
        `release` for the same address must follow when the socket closes."""

    async def release(self, address: str) -> None: ...


class ConnectionRateLimiter:
    """At most `limit` new connections per address in any minute, counted as a Redis counter would:
    one count per address for the current fixed window and one for the previous, the previous
    weighted by how much of it the sliding window still covers. Only addresses seen in those two
    windows are held: the rest are forgotten when the window turns."""

    def __init__(self, *, window: float = RATE_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._window_start = clock()
        self._current: dict[str, int] = {}
        self._previous: dict[str, int] = {}

    def allow(self, address: str, *, limit: int) -> bool:
        elapsed = self._clock() - self._window_start
        if elapsed >= self._window:
            windows_passed = int(elapsed // self._window)
            self._previous = self._current if windows_passed == 1 else {}
            self._current = {}
            self._window_start += windows_passed * self._window
            elapsed -= windows_passed * self._window
        still_covered = 1.0 - elapsed / self._window
        recent = self._current.get(address, 0) + self._previous.get(address, 0) * still_covered
        if recent >= limit:
            return False
        self._current[address] = self._current.get(address, 0) + 1
        return True

    def tracked_addresses(self) -> int:
        return len(self._current.keys() | self._previous.keys())


class OpenSockets:
    """Open device sockets per address; an address with none is not held."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def open(self, address: str, *, limit: int) -> bool:
        count = self._open.get(address, 0)
        if count >= limit:
            return False
        self._open[address] = count + 1
        return True

    def close(self, address: str) -> None:
        count = self._open.pop(address, 0)
        if count > 1:
            self._open[address] = count - 1

    def count(self, address: str) -> int:
        return self._open.get(address, 0)


class InProcessAdmission:
    """`DeviceAdmission` for one worker; the limits are read at each connection (settings)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = ConnectionRateLimiter(clock=clock)
        self.sockets = OpenSockets()

    async def admit(self, address: str) -> str | None:
        per_minute = settings.DEVICE_CONNECTIONS_PER_MINUTE
        if not self.rate.allow(address, limit=per_minute):
            return f"too many device connections from this address (at most {per_minute} a minute)"
        at_once = settings.DEVICE_SOCKETS_PER_ADDRESS
        if not self.sockets.open(address, limit=at_once):
            return f"too many open device connections from this address (at most {at_once} at once)"
        return None

    async def release(self, address: str) -> None:
        self.sockets.close(address)


limits: DeviceAdmission = InProcessAdmission()
