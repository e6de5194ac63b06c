"""The blocking pool (activation/worker_threads.py) against a Vault that answers late: real OpenBao
behind a real proxy that holds every request for one device's secret 3 s, real PostgreSQL, the
runner and amtsim in process. The slow session holds one of the pool's threads at a time, the
other sessions run and complete meanwhile, and the pool shows where the time goes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from activation import worker_threads
from amtsim import DeviceIdentity, VirtualAmtDevice
from tests.activation.test_device_trust import profile, runner  # noqa: F401 - profile is a fixture
from tests.vault_proxy import VaultProxy, vault_proxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

SLOW_VAULT_SECONDS = 3.0
OTHER_SESSIONS = 4


@pytest.fixture
def slow_vault(dev_vault, settings) -> Iterator[VaultProxy]:  # type: ignore[no-untyped-def]
    from rps_site.vault import secret_store

    with vault_proxy(dev_vault.addr) as proxy:
        settings.VAULT_ADDR, settings.VAULT_TOKEN = proxy.addr, dev_vault.root_token
        secret_store.cache_clear()
        yield proxy
    secret_store.cache_clear()


@pytest.fixture
def two_threads(settings, monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A pool of two threads, made for this test from `RPS_BLOCKING_THREADS`."""
    settings.BLOCKING_THREADS = 2
    monkeypatch.setattr(worker_threads, "_pool", None)
    yield
    pool = worker_threads._pool
    if pool is not None:
        pool.shutdown(wait=True)


async def test_a_slow_vault_holds_one_thread_while_other_sessions_complete(  # type: ignore[no-untyped-def]
    slow_vault,
    two_threads,
    profile,  # noqa: F811 - the fixture
) -> None:
    slow_device = VirtualAmtDevice(DeviceIdentity())
    slow_vault.delay("GET|POST|PUT", f"secret/(data|metadata)/devices/{slow_device.identity.uuid}", SLOW_VAULT_SECONDS)
    slow = asyncio.create_task(runner(slow_device, profile).execute())
    others = [VirtualAmtDevice(DeviceIdentity()) for _ in range(OTHER_SESSIONS)]
    async with asyncio.timeout(30):  # the slow session has work on the pool
        while worker_threads.blocking_work.running == 0:
            await asyncio.sleep(0.01)

    finished = await asyncio.gather(*(runner(device, profile).execute() for device in others))

    assert not slow.done(), "the other sessions did not wait for the slow one"
    assert [json.loads(message)["method"] for message in finished] == ["success"] * OTHER_SESSIONS
    assert worker_threads.blocking_work.running == 1, "the pool shows the one call Vault is holding"
    assert worker_threads.blocking_work.threads == 2
    terminal = json.loads(await slow)
    assert terminal["method"] == "success", terminal["message"]
    assert worker_threads.blocking_work.running == 0 and worker_threads.blocking_work.waiting == 0
