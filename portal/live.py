"""Live progress for the portal: device sessions, as activation.session_events announces them,
relayed through the Channels layer to the portal's WebSocket (`/portal/live`).

Every session event goes to its tenant's group, so a socket only ever hears of its own tenant's
sessions: the dashboard's socket relays them all, a device page's socket only its device's (an
unbound device's attempts belong to whoever made them, so the tenant is the session's, not the
device's). With `RPS_REDIS_URL` the layer is Redis and a socket on one worker hears of sessions on
every worker; without it, the in-memory layer serves one worker.

The hub's listeners run on the session's event loop and must not block: events are queued and
sent in order by one task per loop while there are any, every event queued meanwhile in one layer
message per tenant (hundreds of sessions at once cost Redis a few messages per round trip, not
three commands per step per session), and beyond `MAX_PENDING` unsent events new ones are dropped
(a slow or unreachable layer costs the portal its live view, never a device session its time).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from channels.layers import get_channel_layer

from activation.session_events import SessionEnded, SessionEvent, SessionInfo, SessionStarted, StepEnded
from devices.models import RunStep

logger = logging.getLogger(__name__)

MESSAGE_TYPE: Final = "portal.session_event"  # the consumer's `portal_session_event`
MAX_PENDING: Final = 1000
MAX_BATCH: Final = 200  # events per layer message
# Step outcomes as the registry labels them, and the ends of sessions no step outcome names.
OUTCOME_LABELS: Final = {
    **{value: str(label) for value, label in RunStep.Outcome.choices},
    "refused": "Refused",
    "cancelled": "Cancelled",
}


@dataclass
class _Outbox:
    """The events of one event loop not sent yet, in order, and the task sending them (None when
    there is nothing to send: no task outlives its work)."""

    pending: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)  # (tenant group, event)
    sender: asyncio.Task[None] | None = None


_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Outbox] = weakref.WeakKeyDictionary()


def tenant_group(tenant_id: str) -> str:
    """A layer group name (ASCII letters, digits, `-_.`, under 100) for any tenant id."""
    return f"portal-tenant-{hashlib.sha256(tenant_id.encode()).hexdigest()[:32]}"


def event_message(event: SessionEvent) -> dict[str, Any]:
    """What a portal socket receives: plain JSON, never a secret (steps carry causes, not values)."""
    session: SessionInfo = event.session
    message: dict[str, Any] = {
        "guid": session.guid,
        "run": session.run_id,
        "action": session.action,
        "profile": session.profile,
    }
    if isinstance(event, SessionStarted):
        return {**message, "kind": "started", "at": event.at.isoformat()}
    if isinstance(event, StepEnded):
        outcome = event.step.outcome.value
        return {
            **message,
            "kind": "step",
            "position": event.position,
            "name": event.step.name,
            "outcome": outcome,
            "outcomeLabel": OUTCOME_LABELS.get(outcome, outcome),
            "detail": event.step.cause,
            "at": event.step.at.isoformat(),
        }
    assert isinstance(event, SessionEnded)
    return {
        **message,
        "kind": "ended",
        "outcome": event.outcome,
        "outcomeLabel": OUTCOME_LABELS.get(event.outcome, event.outcome),
        "failedStep": event.failed_step,
        "cause": event.cause,
        "seconds": round(event.duration_seconds, 1),
        "at": event.at.isoformat(),
    }


async def _send_pending(outbox: _Outbox) -> None:
    """Everything queued, one layer message per tenant group, in the order the steps ended; then
    whatever was queued while that was sent."""
    layer = get_channel_layer()
    try:
        while outbox.pending:
            batches: dict[str, list[dict[str, Any]]] = {}
            for _ in range(min(len(outbox.pending), MAX_BATCH)):
                group, payload = outbox.pending.popleft()
                batches.setdefault(group, []).append(payload)
            try:
                for group, events in batches.items():
                    await layer.group_send(group, {"type": MESSAGE_TYPE, "events": events})
            except Exception as error:  # the layer (Redis) unreachable: the live view misses them
                logger.warning("portal live progress not sent: %s", type(error).__name__)
    finally:
        outbox.sender = None


def relay_session_event(event: SessionEvent) -> None:
    """The hub listener (subscribed in PortalConfig.ready)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # published outside an event loop: there is no session to follow live
    outbox = _outboxes.setdefault(loop, _Outbox())
    if len(outbox.pending) >= MAX_PENDING:
        return
    outbox.pending.append((tenant_group(event.session.tenant_id), event_message(event)))
    if outbox.sender is None:
        outbox.sender = loop.create_task(_send_pending(outbox))
