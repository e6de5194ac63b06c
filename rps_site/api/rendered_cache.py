"""Rendered JSON bodies of hot reads, kept per process and keyed by a collection fingerprint.

Every write to a tenant-owned record gives the row a new version from one increasing sequence,
so a tenant's `(max(version), count(*))` changes with every insert and update, and a delete
either lowers the count or — deleting only rows newer than an earlier state — returns to
exactly that earlier set of rows. A body rendered under a fingerprint is therefore the body
for that fingerprint, and one cheap aggregate query replaces the ORM work of a list or
record read (bench/api_bench.py). The same reasoning makes the fingerprint an entity tag: an
`If-None-Match` can be answered 304 before any row is read (rest-api.md §1.7 tests only the
round trip, not the hash). Nothing is shared between processes, so nothing can go stale
across workers.

A body is rendered by other statements than the fingerprint's, so a write can land between
them; the fingerprint is read again after rendering and the body kept (and tagged) only if it
did not move.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db import connection

JSON_CONTENT_TYPE = "application/json"


def render_json(data: Any) -> bytes:
    """The same bytes DRF's JSONRenderer writes (compact, UTF-8)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Fingerprint:
    """The state of one tenant's rows of one table."""

    table: str
    tenant_id: str
    max_version: int
    count: int

    def entity_tag(self, *key: Hashable) -> str:
        """A weak ETag (upstream's form) for what `key` reads in this state."""
        digest = hashlib.blake2b(repr((self, key)).encode("utf-8"), digest_size=16).hexdigest()
        return f'W/"{digest}"'


def collection_fingerprint(table: str, tenant_id: str) -> Fingerprint:
    # Raw SQL on purpose: compiling the equivalent ORM aggregate costs more than running it.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(version), 0), COUNT(*) FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608  (table is a model's db_table, never input)
        maximum, count = cursor.fetchone()
    return Fingerprint(table, tenant_id, int(maximum), int(count))


class RenderedCache:
    """A small LRU of rendered bodies (or None for "not found")."""

    def __init__(self, maxsize: int = 256) -> None:
        self._entries: OrderedDict[Hashable, bytes | None] = OrderedDict()
        self._maxsize = maxsize
        self._lock = threading.Lock()

    def get_or_render(
        self, key: Hashable, render: Callable[[], bytes | None], *, still_current: Callable[[], bool]
    ) -> tuple[bytes | None, bool]:
        """(body, whether it is the body for `key`): rendered bodies are kept only if
        `still_current()` says nothing changed while they were rendered."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key], True
        body = render()
        if not still_current():
            return body, False
        with self._lock:
            self._entries[key] = body
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return body, True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
