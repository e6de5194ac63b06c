"""Who may open a device socket: TLS outside debug, a rate of new connections and a cap on open
sockets per client address (SECURITY.md checks 13 and 23).

With one worker the per-address counts live in its memory (`InProcessAdmission`). With several
(`RPS_REDIS_URL`), they live in Redis (`RedisAdmission`), so a caller spreading its connections
over the workers meets the same limits as on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as random_source
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

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

    def add(self, address: str) -> None:
        self._open[address] = self._open.get(address, 0) + 1

    def close(self, address: str) -> None:
        count = self._open.pop(address, 0)
        if count > 1:
            self._open[address] = count - 1

    def count(self, address: str) -> int:
        return self._open.get(address, 0)

    def items(self) -> list[tuple[str, int]]:
        return list(self._open.items())


def too_many_per_minute() -> str:
    return f"too many device connections from this address (at most {settings.DEVICE_CONNECTIONS_PER_MINUTE} a minute)"


def too_many_at_once() -> str:
    return f"too many open device connections from this address (at most {settings.DEVICE_SOCKETS_PER_ADDRESS} at once)"


def refusal_cause(refusal: str) -> str:
    """Which limit a refusal text of `DeviceAdmission.admit` names, as a metric label."""
    return "rate_limit" if refusal == too_many_per_minute() else "sockets_per_address"


class InProcessAdmission:
    """`DeviceAdmission` for one worker; the limits are read at each connection (settings)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = ConnectionRateLimiter(clock=clock)
        self.sockets = OpenSockets()

    async def admit(self, address: str) -> str | None:
        if not self.rate.allow(address, limit=settings.DEVICE_CONNECTIONS_PER_MINUTE):
            return too_many_per_minute()
        if not self.sockets.open(address, limit=settings.DEVICE_SOCKETS_PER_ADDRESS):
            return too_many_at_once()
        return None

    async def release(self, address: str) -> None:
        self.sockets.close(address)


# Both scripts read the time from Redis, so the workers' clocks never disagree about a window.
# KEYS[1] the sorted set of live workers (score: last heartbeat), KEYS[2] this worker's hash of open
# sockets per address, KEYS[3] the prefix of the rate counters, KEYS[4] the prefix of worker hashes.
# ARGV: address, worker, per-minute limit, at-once limit, rate window (s), worker TTL (s).
# Returns 0 (admitted), 1 (rate) or 2 (sockets).
ADMIT_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local address, worker = ARGV[1], ARGV[2]
local window, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local index = math.floor(t / window)
local covered = 1 - (t - index * window) / window
local current_key = KEYS[3] .. index .. ':' .. address
local recent = tonumber(redis.call('GET', current_key) or '0')
    + tonumber(redis.call('GET', KEYS[3] .. (index - 1) .. ':' .. address) or '0') * covered
if recent >= tonumber(ARGV[3]) then return 1 end
redis.call('INCR', current_key)
redis.call('EXPIRE', current_key, math.ceil(2 * window))
redis.call('ZADD', KEYS[1], t, worker)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t - ttl)
local open = 0
for _, live in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    open = open + tonumber(redis.call('HGET', KEYS[4] .. live, address) or '0')
end
if open >= tonumber(ARGV[4]) then return 2 end
redis.call('HINCRBY', KEYS[2], address, 1)
redis.call('PEXPIRE', KEYS[2], math.floor(ttl * 1000))
return 0
"""
# KEYS[1] this worker's hash; ARGV[1] the address.
RELEASE_SCRIPT = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""
# KEYS[1] the live workers, KEYS[2] this worker's hash; ARGV: worker, TTL (s), then address, count...
HEARTBEAT_SCRIPT = """
local now = redis.call('TIME')
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], math.floor(tonumber(ARGV[2]) * 1000))
redis.call('ZADD', KEYS[1], tonumber(now[1]) + tonumber(now[2]) / 1000000, ARGV[1])
return 0
"""


class RedisAdmission:
    """`DeviceAdmission` shared by every worker through one Redis (not Redis Cluster).

    Connections per address are counted per minute in Redis as `ConnectionRateLimiter` counts
    them. Open sockets are counted per worker: each worker keeps a hash of its own sockets per
    address, which expires unless the worker renews it (a heartbeat every `ttl / 3` seconds,
    rewriting it from the worker's own table), so the sockets of a worker that died stop counting
    after `ttl` seconds, and any drift (a lost release, a restarted Redis) is mended at the next
    heartbeat. Each check-and-count is one atomic script.

    When Redis cannot be reached, each worker applies the limits to the sockets it holds (the
    one-worker behaviour), says so in the log, and tries Redis again after `RETRY_SECONDS`.
    """

    RETRY_SECONDS = 5.0

    def __init__(
        self, url: str, *, namespace: str = "rps:admission:", ttl: float = 30.0, worker: str | None = None
    ) -> None:
        self._url = url
        self._ttl = ttl
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{random_source.token_hex(4)}"
        self._workers_key = f"{namespace}workers"
        self._sockets_prefix = f"{namespace}sockets:"
        self._own_key = self._sockets_prefix + self.worker
        self._rate_prefix = f"{namespace}rate:"
        self._local = InProcessAdmission()
        self._client: redis.asyncio.Redis | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._next_try = 0.0

    async def admit(self, address: str) -> str | None:
        # Counted here first, so a heartbeat running meanwhile counts this socket (over, never under).
        self._local.sockets.add(address)
        outcome = await self._shared(
            ADMIT_SCRIPT,
            self._workers_key,
            self._own_key,
            self._rate_prefix,
            self._sockets_prefix,
            arguments=(
                address,
                self.worker,
                settings.DEVICE_CONNECTIONS_PER_MINUTE,
                settings.DEVICE_SOCKETS_PER_ADDRESS,
                RATE_WINDOW_SECONDS,
                self._ttl,
            ),
        )
        if outcome is None:
            outcome = self._admit_locally(address)
        if outcome == 0:
            return None
        self._local.sockets.close(address)
        return too_many_per_minute() if outcome == 1 else too_many_at_once()

    async def release(self, address: str) -> None:
        self._local.sockets.close(address)
        await self._shared(RELEASE_SCRIPT, self._own_key, arguments=(address,))  # or the next heartbeat

    async def heartbeat(self) -> None:
        """Renew this worker's counts in Redis, rewritten from its own table."""
        counts = [item for address, count in self._local.sockets.items() for item in (address, count)]
        self._next_try = 0.0  # also the probe that finds Redis back
        await self._shared(
            HEARTBEAT_SCRIPT, self._workers_key, self._own_key, arguments=(self.worker, self._ttl, *counts)
        )

    async def close(self) -> None:
        """Stop the heartbeat and withdraw this worker's counts (a worker shutting down)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):  # else they expire on their own
                await client.delete(self._own_key)
                await client.zrem(self._workers_key, self.worker)
            await client.aclose()

    async def _shared(self, script: str, *keys: str, arguments: tuple[str | int | float, ...]) -> int | None:
        """Run `script` in Redis: its answer, or None when Redis is away (tried again after a pause)."""
        if self._failing_since is not None and time.monotonic() < self._next_try:
            return None
        try:
            client = self._redis()
            registered = self._scripts.get(script)
            if registered is None:
                registered = self._scripts[script] = client.register_script(script)  # EVALSHA, loaded once
            answer = int(await registered(keys=list(keys), args=list(arguments), client=client))
        except (RedisError, OSError) as error:
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                logger.warning(
                    "device connection limits: Redis is unreachable (%s); "
                    "each worker counts only its own sockets until it answers",
                    type(error).__name__,
                )
            self._next_try = time.monotonic() + self.RETRY_SECONDS
            return None
        if self._failing_since is not None:
            logger.warning(
                "device connection limits: Redis answers again after %.0f s; counts are shared again",
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
        return answer

    def _admit_locally(self, address: str) -> int:
        """The one-worker rule while Redis is away (this socket is already in the local count)."""
        if not self._local.rate.allow(address, limit=settings.DEVICE_CONNECTIONS_PER_MINUTE):
            return 1
        return 2 if self._local.sockets.count(address) > settings.DEVICE_SOCKETS_PER_ADDRESS else 0

    def _redis(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # One quick retry (a pooled connection Redis has closed), never a long backoff: a
            # device connection waits on this.
            self._client = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=2, socket_connect_timeout=2, retry=Retry(NoBackoff(), 1)
            )
            self._client_loop = loop
            self._scripts = {}
            self._heartbeat = loop.create_task(self._beat())
        return self._client

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            await self.heartbeat()


def configured_admission() -> DeviceAdmission:
    return RedisAdmission(settings.REDIS_URL) if settings.REDIS_URL else InProcessAdmission()


limits: DeviceAdmission = configured_admission()
