"""What a running device session tells the rest of the server: it started, a step ended, it ended.

The runner is the only publisher, with one call per moment. Everything that watches sessions
subscribes here once at start-up (`ActivationConfig.ready`): the session log line below, and the
portal's live progress, metrics and events as they arrive. Listeners run synchronously on the
session's event loop, so they must not block: slow work goes to a task or a bounded queue of
the listener's own. A listener that raises is logged and never disturbs the session.

The tenant of an event is whose session it is: the device's owner once the registry knows it,
else the tenant the request named (an unbound device is seen by the tenants that named it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from activation.flows.ports import StepOutcome, StepRecord
from rps_site.logs import CAUSE_LIMIT, log_event, session_logger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionInfo:
    """What every event says about its session."""

    guid: str
    tenant_id: str
    action: str
    profile: str
    client_address: str
    run_id: int | None = None  # None until the registry recorded the run (or when it refused it)


@dataclass(frozen=True)
class SessionStarted:
    session: SessionInfo
    at: datetime


@dataclass(frozen=True)
class StepEnded:
    session: SessionInfo
    position: int  # 1-based, as the run's steps are numbered in the registry
    step: StepRecord


@dataclass(frozen=True)
class SessionEnded:
    session: SessionInfo
    outcome: str  # success | failure | refused | cancelled
    failed_step: str
    cause: str
    duration_seconds: float
    at: datetime


SessionEvent = SessionStarted | StepEnded | SessionEnded
Listener = Callable[[SessionEvent], None]

_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add `listener`; returns the call that removes it again."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def publish(event: SessionEvent) -> None:
    for listener in tuple(_listeners):
        try:
            listener(event)
        except Exception:
            logger.exception("a device-session listener failed on %s", type(event).__name__)


class PublishedSteps:
    """A session's steps in the order they ended; each is announced as a `StepEnded` when added.

    It is the sink of `activation.flows.ports.session_steps`, so the runner's own steps and every
    step a flow records arrive here."""

    def __init__(self, session: Callable[[], SessionInfo]) -> None:
        self._steps: list[StepRecord] = []
        self._session = session

    def append(self, step: StepRecord) -> None:
        self._steps.append(step)
        if _listeners:
            publish(StepEnded(self._session(), len(self._steps), step))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._steps)

    def __len__(self) -> int:
        return len(self._steps)


def terminal_status(terminal: str | None) -> tuple[str, str]:
    """(method, status text) of the message a session ended with; ("", "") when it sent none."""
    if terminal is None:
        return "", ""
    try:
        parsed = json.loads(terminal)
    except ValueError:
        return "", ""
    message = str(parsed.get("message") or "")
    try:  # a flow's end carries its status JSON; a refusal, plain text
        status = json.loads(message)
        message = str(status.get("Status", message)) if isinstance(status, dict) else message
    except ValueError:
        pass
    return str(parsed.get("method") or ""), message


def session_ended(
    session: SessionInfo,
    *,
    steps: Iterable[StepRecord],
    terminal: str | None,
    recorded_cause: str,
    started: float,
) -> SessionEnded:
    """The end of a session, from the terminal message it sent (None when it was cut short), its
    steps, the cause the registry recorded and its `time.monotonic()` start."""
    method, message = terminal_status(terminal)
    failed = next((step for step in steps if step.outcome is StepOutcome.FAILURE), None)
    if terminal is None:
        outcome = "cancelled"
    elif method == "success":
        outcome = "success"
    else:
        outcome = "refused" if session.run_id is None else "failure"
    cause = ""
    if outcome != "success":
        cause = (failed.cause if failed else "") or recorded_cause or message
        if outcome == "cancelled" and not cause:
            cause = "client disconnected"
    return SessionEnded(
        session,
        outcome=outcome,
        failed_step=failed.name if failed and outcome != "success" else "",
        cause=cause[:CAUSE_LIMIT],
        duration_seconds=time.monotonic() - started,
        at=datetime.now(UTC),
    )


def log_session(event: SessionEvent) -> None:
    """One structured line per device session (README, "Logs")."""
    if not isinstance(event, SessionEnded):
        return
    session = event.session
    log_event(
        session_logger,
        "device_session",
        level=logging.INFO if event.outcome == "success" else logging.WARNING,
        guid=session.guid,
        tenant=session.tenant_id,
        action=session.action,
        profile=session.profile,
        outcome=event.outcome,
        step=event.failed_step,
        cause=event.cause,
        duration_ms=round(event.duration_seconds * 1000),
        client=session.client_address,
    )
