"""Rendered JSON bodies of hot reads, kept per process and keyed by a collection fingerprint.

Every write to a versioned resource gives the row a new version from one increasing sequence,
so a tenant's `(max(version), count(*))` changes with every insert and update, and a delete
either lowers the count or — deleting only rows newer than an earlier state — returns to
exactly that earlier set of rows. A body rendered under a fingerprint is therefore the body
for that fingerprint, and one cheap aggregate query replaces the ORM work of a list or
record read (bench/api_bench.py). Nothing is shared between processes, so nothing can go
stale across workers.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connection

JSON_CONTENT_TYPE = "application/json"


def render_json(data: Any) -> bytes:
    """The same bytes DRF's JSONRenderer writes (compact, UTF-8)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def collection_fingerprint(table: str, tenant_id: str) -> tuple[int, int]:
    # Raw SQL on purpose: compiling the equivalent ORM aggregate costs more than running it.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(version), 0), COUNT(*) FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608  (table is a model's db_table, never input)
        maximum, count = cursor.fetchone()
    return int(maximum), int(count)


class RenderedCache:
    """A small LRU of rendered bodies (or None for "not found")."""

    def __init__(self, maxsize: int = 256) -> None:
        self._entries: OrderedDict[Hashable, bytes | None] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get_or_render(self, key: Hashable, render: Callable[[], bytes | None]) -> bytes | None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        body = render()
        with self._lock:
            self._entries[key] = body
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return body

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
