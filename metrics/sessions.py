"""Device-session metrics from the session hub (activation.session_events): sessions by action
and outcome, their durations, and each step's."""

from __future__ import annotations

import re
from datetime import datetime

from activation.session_events import SessionEnded, SessionEvent, SessionStarted, StepEnded
from metrics.registry import DEVICE_SESSION_DURATION, DEVICE_SESSIONS, DEVICE_STEP_DURATION

STEP_LABEL_LIMIT = 64
# Clean-up steps name what the device reported ("clean-up: wireless profile <its name> deleted"):
# the label keeps what was cleaned up, never the device's own names.
CLEAN_UP = re.compile(r"^clean-up: (wireless profile|proxy|MPS server) .*$")


def step_label(name: str) -> str:
    """A step name as a label: flows name steps with fixed texts and WS-Man call names, but a
    label must stay a small set whatever a device answers."""
    cleaned = CLEAN_UP.sub(r"clean-up: \1", name)
    return cleaned if len(cleaned) <= STEP_LABEL_LIMIT else "other"


class SessionMetrics:
    """A listener: the last step end of each running session, to time the next step from it."""

    def __init__(self) -> None:
        self._last_mark: dict[tuple[str, str, str], datetime] = {}

    def observe(self, event: SessionEvent) -> None:
        session = event.session
        key = (session.guid, session.client_address, session.action)
        if isinstance(event, SessionStarted):
            self._last_mark[key] = event.at
        elif isinstance(event, StepEnded):
            previous = self._last_mark.get(key)
            if previous is not None:
                seconds = max((event.step.at - previous).total_seconds(), 0.0)
                DEVICE_STEP_DURATION.labels(step_label(event.step.name), event.step.outcome.value).observe(seconds)
            self._last_mark[key] = event.step.at
        elif isinstance(event, SessionEnded):
            self._last_mark.pop(key, None)
            DEVICE_SESSIONS.labels(session.action, event.outcome).inc()
            DEVICE_SESSION_DURATION.labels(session.action, event.outcome).observe(event.duration_seconds)
