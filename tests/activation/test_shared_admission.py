"""Device admission shared through Redis (`RedisAdmission`): two instances stand for two workers
on the real Redis at 127.0.0.1:6379, each test under a namespace of its own."""

from __future__ import annotations

import asyncio
import logging
import secrets as random_source
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from activation.admission import RedisAdmission
from rps_site.openbao_dev import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
AT_ONCE = "too many open device connections from this address (at most 2 at once)"
PER_MINUTE = "too many device connections from this address (at most 5 a minute)"


@pytest.fixture(autouse=True)
def small_limits(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_SOCKETS_PER_ADDRESS = 2
    settings.DEVICE_CONNECTIONS_PER_MINUTE = 5


@pytest.fixture
async def workers() -> AsyncIterator[Callable[..., RedisAdmission]]:
    """Makes admissions ("workers") sharing one fresh namespace; removes its keys afterwards."""
    namespace = f"test-admission:{random_source.token_hex(6)}:"
    made: list[RedisAdmission] = []

    def make(**options: float) -> RedisAdmission:
        made.append(RedisAdmission(REDIS_URL, namespace=namespace, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for admission in made:
        await admission.close()
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_open_sockets_are_capped_across_workers(workers) -> None:  # type: ignore[no-untyped-def]
    first, second = workers(), workers()
    assert await first.admit("192.0.2.1") is None
    assert await second.admit("192.0.2.1") is None
    assert await first.admit("192.0.2.1") == AT_ONCE
    assert await second.admit("192.0.2.1") == AT_ONCE
    assert await second.admit("192.0.2.2") is None  # another address has its own count
    await first.release("192.0.2.1")
    assert await second.admit("192.0.2.1") is None


async def test_the_connection_rate_is_counted_across_workers(workers, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEVICE_SOCKETS_PER_ADDRESS = 100
    first, second = workers(), workers()
    for index in range(5):
        assert await (first if index % 2 else second).admit("192.0.2.3") is None
    assert await first.admit("192.0.2.3") == PER_MINUTE
    assert await second.admit("192.0.2.3") == PER_MINUTE
    # A refusal does not count as a socket: releasing the five admitted ones empties the count.
    for index in range(5):
        await (first if index % 2 else second).release("192.0.2.3")
    assert await first.admit("192.0.2.4") is None


async def test_a_dead_workers_sockets_stop_counting_after_its_ttl(workers) -> None:  # type: ignore[no-untyped-def]
    dying, survivor = workers(ttl=1.0), workers(ttl=1.0)
    assert await dying.admit("192.0.2.5") is None
    assert await dying.admit("192.0.2.5") is None
    # The worker dies holding both sockets: no release, no heartbeat.
    assert dying._heartbeat is not None
    dying._heartbeat.cancel()
    assert await survivor.admit("192.0.2.5") == AT_ONCE
    await asyncio.sleep(1.3)
    assert await survivor.admit("192.0.2.5") is None


async def test_a_live_worker_keeps_its_counts_past_the_ttl(workers) -> None:  # type: ignore[no-untyped-def]
    alive, other = workers(ttl=0.6), workers(ttl=0.6)
    assert await alive.admit("192.0.2.6") is None
    assert await alive.admit("192.0.2.6") is None
    await asyncio.sleep(1.5)  # several heartbeats (every ttl / 3)
    assert await other.admit("192.0.2.6") == AT_ONCE


async def test_a_heartbeat_restores_counts_redis_lost(workers) -> None:  # type: ignore[no-untyped-def]
    holder, other = workers(), workers()
    assert await holder.admit("192.0.2.7") is None
    assert await holder.admit("192.0.2.7") is None
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await client.delete(holder._own_key)  # as after a Redis restart without persistence
    await client.aclose()
    await holder.heartbeat()
    assert await other.admit("192.0.2.7") == AT_ONCE


async def test_without_redis_each_worker_applies_the_limits_to_its_own_sockets(settings, caplog) -> None:  # type: ignore[no-untyped-def]
    unreachable = RedisAdmission(f"redis://127.0.0.1:{free_port()}/0", namespace="unreachable:")
    with caplog.at_level(logging.WARNING, logger="activation.admission"):
        assert await unreachable.admit("192.0.2.8") is None
        assert await unreachable.admit("192.0.2.8") is None
        assert await unreachable.admit("192.0.2.8") == AT_ONCE
        await unreachable.release("192.0.2.8")
        assert await unreachable.admit("192.0.2.8") is None
    warnings = [record.getMessage() for record in caplog.records if "Redis is unreachable" in record.getMessage()]
    assert len(warnings) == 1, warnings  # said once, not per connection
    await unreachable.close()


async def test_addresses_are_data_not_key_syntax(workers) -> None:  # type: ignore[no-untyped-def]
    """What a client behind a misconfigured proxy could put in X-Forwarded-For stays one address."""
    first, second = workers(), workers()
    hostile = ["*", "192.0.2.9:sockets:x", "' or 1 --", "a" * 2000, "\n", ""]
    for address in hostile:
        assert await first.admit(address) is None
        assert await second.admit(address) is None
        assert await first.admit(address) == AT_ONCE
    assert await first.admit("192.0.2.9") is None  # none of them counted for a real address
