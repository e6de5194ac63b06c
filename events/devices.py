"""Device events from the session hub (activation.session_events), each with the device's GUID.

Upstream's three activation events (events.md §4.4), under their own `methods`:
- `["Activator","execute"]` success `Device activated in <status>` each time AMT confirms a
  control-mode change: Setup (`Client control mode.`), AdminSetup from pre-provisioning
  (`Activated to admin control mode.`), UpgradeClientToAdmin from CCM (`Upgraded to admin
  control mode.`);
- `["Activator"]` fail `Failed to activate`: signing the ACM nonces failed;
- `["Activator"]` fail `unable to register metadata with MPS`.

Beyond upstream, each under new `methods` values so that a consumer counting upstream's kinds
sees nothing new under them: `["Deactivator"]` and `["Maintenance"]` at the end of those
sessions, `["Configurator","<component>"]` for each configuration step (network, Wi-Fi,
802.1X, TLS, CIRA, AMT features ...), success or fail with the cause.
"""

from __future__ import annotations

from activation.flows.ports import StepOutcome
from activation.session_events import SessionEnded, SessionEvent, StepEnded
from events.publisher import publish_event

CAUSE_LIMIT = 200
ACTIVATED = {
    "IPS_HostBasedSetupService.Setup": "Client control mode.",
    "IPS_HostBasedSetupService.AdminSetup": "Activated to admin control mode.",
    "IPS_HostBasedSetupService.UpgradeClientToAdmin": "Upgraded to admin control mode.",
}
ACTIVATOR_FAILURES = {
    "sign configuration nonces": "Failed to activate",
    "register with MPS": "unable to register metadata with MPS",
}
CONFIGURE = "configure "
# action -> (methods label, success message, failure message before its cause)
SESSION_KINDS = {
    "deactivate": ("Deactivator", "Device deactivated.", "Failed to deactivate"),
    "maintenance": ("Maintenance", "Maintenance done.", "Maintenance failed"),
}


def _with_cause(text: str, cause: str) -> str:
    return f"{text}: {cause[:CAUSE_LIMIT]}" if cause else text


def _step_event(event: StepEnded) -> None:
    step, guid = event.step, event.session.guid
    if step.outcome is StepOutcome.SUCCESS and step.name in ACTIVATED:
        publish_event("success", f"Device activated in {ACTIVATED[step.name]}", ["Activator", "execute"], guid)
    elif step.outcome is StepOutcome.FAILURE and step.name in ACTIVATOR_FAILURES:
        publish_event("fail", ACTIVATOR_FAILURES[step.name], ["Activator"], guid)
    elif step.name.startswith(CONFIGURE) and step.outcome is not StepOutcome.SKIPPED:
        component = step.name.removeprefix(CONFIGURE)
        if step.outcome is StepOutcome.SUCCESS:
            publish_event("success", f"Configured {component}", ["Configurator", component], guid)
        else:
            message = _with_cause(f"Failed to configure {component}", step.cause)
            publish_event("fail", message, ["Configurator", component], guid)


def device_event(event: SessionEvent) -> None:
    """A session-hub listener: queues the events above (the publisher never blocks)."""
    if isinstance(event, StepEnded):
        _step_event(event)
    elif isinstance(event, SessionEnded) and event.session.action in SESSION_KINDS:
        label, done, failed = SESSION_KINDS[event.session.action]
        if event.outcome == "success":
            publish_event("success", done, [label], event.session.guid)
        else:
            publish_event("fail", _with_cause(failed, event.cause), [label], event.session.guid)
