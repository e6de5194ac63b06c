"""The event upstream publishes (events.md §3): compact JSON, keys in the order type, message,
methods, guid (only when there is one), timestamp (ms since the epoch, when it was made)."""

from __future__ import annotations

import json
import time

TOPIC = "rps/events"


def event_payload(kind: str, message: str, methods: list[str], guid: str | None = None) -> bytes:
    event: dict[str, object] = {"type": kind, "message": message, "methods": methods}
    if isinstance(guid, str):
        event["guid"] = guid
    event["timestamp"] = int(time.time() * 1000)
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
