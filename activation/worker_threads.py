"""Blocking work (the ORM, hvac) off the event loop, and work that must land even when the
session awaiting it is cancelled (the client went away)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async

T = TypeVar("T")


def in_thread(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """`function` in a worker thread whose database connection is given back afterwards (to the
    pool, under PostgreSQL): a worker thread would otherwise hold one for as long as it lives."""
    return database_sync_to_async(function, thread_sensitive=False)


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
