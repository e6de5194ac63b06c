"""Blocking work (the ORM, hvac) off the event loop, on a pool of its own, and work that must land
even when the session awaiting it is cancelled (the client went away).

One sized pool (`RPS_BLOCKING_THREADS`) carries every ORM and Vault call of every device session,
instead of the event loop's default executor, which other code shares: a slow Vault fills this
pool and no other, the bound is the operator's, and what waits for a thread is counted and
logged (`blocking_work`), so a stall is visible rather than silent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A call that waited this long for a free thread is logged: the pool is saturated.
SLOW_QUEUE_SECONDS: Final = 1.0


@dataclass
class BlockingWork:
    """What the pool is doing now (read it, never write it)."""

    threads: int = 0
    running: int = 0
    waiting: int = 0
    longest_wait: float = 0.0  # seconds, since the pool was made


blocking_work = BlockingWork()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def blocking_pool() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            size = settings.BLOCKING_THREADS
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="rps-blocking")
            blocking_work.threads = size
        return _pool


def in_thread(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`function` on the blocking pool, its database connection given back afterwards (to the
    pool, under PostgreSQL): a worker thread would otherwise hold one for as long as it lives."""

    async def run(*args: Any, **kwargs: Any) -> Any:
        queued_at = time.monotonic()
        started = False
        with _lock:
            blocking_work.waiting += 1

        def measured() -> Any:
            nonlocal started
            waited = time.monotonic() - queued_at
            with _lock:
                started = True
                blocking_work.waiting -= 1
                blocking_work.running += 1
                blocking_work.longest_wait = max(blocking_work.longest_wait, waited)
            if waited >= SLOW_QUEUE_SECONDS:
                logger.warning(
                    "blocking work waited %.1f s for one of %d threads (RPS_BLOCKING_THREADS): Vault or the "
                    "database is slow",
                    waited,
                    blocking_work.threads,
                )
            try:
                return function(*args, **kwargs)
            finally:
                with _lock:
                    blocking_work.running -= 1

        try:
            return await database_sync_to_async(measured, thread_sensitive=False, executor=blocking_pool())()
        finally:
            with _lock:
                if not started:  # cancelled before a thread took it
                    blocking_work.waiting -= 1

    return run


async def landed(awaitable: Awaitable[T], *, on_cancel: Callable[[T], Awaitable[None]] | None = None) -> T:
    """Await `awaitable`, work in a worker thread that goes on whatever happens to its caller.
    When the caller is cancelled meanwhile, wait until the work has landed and hand its result to
    `on_cancel` (to record it or undo it), then let the cancellation through: a cancelled session
    never leaves behind a write it did not know about."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if on_cancel is not None and not task.cancelled() and task.exception() is None:
            await on_cancel(task.result())
        raise
