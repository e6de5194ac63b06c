"""The session event hub: steps announced in order, listeners isolated from the session."""

from __future__ import annotations

import json
import time

from activation import session_events
from activation.flows.ports import StepOutcome, StepRecord, new_step, session_steps
from activation.session_events import PublishedSteps, SessionEnded, SessionInfo, StepEnded, session_ended

SESSION = SessionInfo(
    guid="4c4c4544-0046-3610-8052-b5c04f4c5032",
    tenant_id="acme",
    action="activate",
    profile="ccm",
    client_address="192.0.2.7",
    run_id=12,
)


def test_each_step_a_flow_records_is_announced_in_order_with_its_position() -> None:
    seen: list[session_events.SessionEvent] = []
    unsubscribe = session_events.subscribe(seen.append)
    steps = PublishedSteps(lambda: SESSION)
    token = session_steps.set(steps)
    try:
        new_step("AMT_GeneralSettings.Get", StepOutcome.SUCCESS)
        new_step("IPS_HostBasedSetupService.Setup", StepOutcome.FAILURE, "ReturnValue 1")
    finally:
        session_steps.reset(token)
        unsubscribe()
    assert [(event.position, event.step.name) for event in seen if isinstance(event, StepEnded)] == [
        (1, "AMT_GeneralSettings.Get"),
        (2, "IPS_HostBasedSetupService.Setup"),
    ]
    assert [step.name for step in steps] == ["AMT_GeneralSettings.Get", "IPS_HostBasedSetupService.Setup"]


def test_a_failing_listener_neither_stops_the_others_nor_the_session() -> None:
    seen: list[session_events.SessionEvent] = []

    def broken(_: session_events.SessionEvent) -> None:
        raise RuntimeError("listener bug")

    remove_broken = session_events.subscribe(broken)
    remove_seen = session_events.subscribe(seen.append)
    try:
        PublishedSteps(lambda: SESSION).append(StepRecord("Setup", StepOutcome.SUCCESS))
    finally:
        remove_broken()
        remove_seen()
    assert len(seen) == 1


def test_the_end_names_the_failing_step_and_its_cause() -> None:
    terminal = json.dumps({"method": "error", "message": json.dumps({"Status": "Failed to activate"})})
    steps = [StepRecord("resolve plan", StepOutcome.SUCCESS), StepRecord("Setup", StepOutcome.FAILURE, "ReturnValue 1")]
    ended = session_ended(SESSION, steps=steps, terminal=terminal, recorded_cause="", started=time.monotonic())
    assert (ended.outcome, ended.failed_step, ended.cause) == ("failure", "Setup", "ReturnValue 1")


def test_a_session_cut_short_is_cancelled_and_says_why() -> None:
    ended = session_ended(SESSION, steps=[], terminal=None, recorded_cause="", started=time.monotonic())
    assert isinstance(ended, SessionEnded)
    assert (ended.outcome, ended.cause) == ("cancelled", "client disconnected")
