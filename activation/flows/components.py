"""Shared pieces of the post-activation configuration flows: how a component reports its outcome
into the status JSON (§2.7) and the run history, (the errors a WS-Man exchange can raise are
`activation.session_errors.CALL_ERRORS`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from activation.flows.ports import StepOutcome, StepRecord, new_step
from activation.protocol.status import ActivationStatus, Component, ComponentMode, ComponentResult, ComponentStatus

# Where AMT needs time (after Setup, AdminSetup, UpgradeClientToAdmin, a TLS Put) a flow awaits its
# `pause`: upstream's delay_timer, the operator's `RPS_DELAY_TIMER` here (tests pass one that does
# not wait). The TLS listener's restart has its own, `activation.tunnel.tls_restart_timer`.
Pause = Callable[[], Awaitable[None]]


async def delay_timer() -> None:
    await asyncio.sleep(settings.DELAY_TIMER)


class MpsPort(Protocol):
    """The MPS client as the CIRA step uses it (`devices.mps.MpsClient`); never raises."""

    async def register_device(self, record: dict[str, Any]) -> Any: ...


class ComponentFailed(Exception):
    """A component stops: `status_text` is what the status JSON shows, `cause` the detail."""

    def __init__(self, status_text: str, cause: str = "") -> None:
        super().__init__(status_text if not cause else f"{status_text} ({cause})")
        self.status_text = status_text
        self.cause = cause


def cause_of(error: BaseException) -> str:
    """An error's text for the run history: session errors name the call, never its content."""
    return str(error) or type(error).__name__


@dataclass
class ConfigurationReport:
    """Fills `status.components` and keeps the per-step history. A component's failure is
    sticky: a later success of the same component (e.g. after a failed clean-up) does not hide it."""

    status: ActivationStatus
    steps: list[StepRecord] = field(default_factory=list)
    failed_components: set[Component] = field(default_factory=set)
    other_failures: list[str] = field(default_factory=list)

    def step(self, name: str, outcome: StepOutcome, cause: str = "") -> None:
        self.steps.append(new_step(name, outcome, cause))

    def succeeded(self, component: Component, details: str, mode: ComponentMode | None = None) -> None:
        self.step(f"configure {component.value}", StepOutcome.SUCCESS, details)
        if component not in self.failed_components:
            self.status.components[component] = ComponentStatus(ComponentResult.SUCCESS, details, mode)

    def failed(self, component: Component, details: str, cause: str = "", mode: ComponentMode | None = None) -> None:
        self.step(f"configure {component.value}", StepOutcome.FAILURE, f"{details}: {cause}" if cause else details)
        if component in self.failed_components:
            previous = self.status.components[component].details
            details = f"{previous}; {details}" if details not in previous else previous
        self.failed_components.add(component)
        self.status.components[component] = ComponentStatus(ComponentResult.FAILURE, details, mode)

    def not_asked_for(self) -> None:
        """A `Not applicable` step for each component the profile does not ask for, with the
        status JSON's words: the history shows what was considered, not only what was done."""
        for component, outcome in self.status.components.items():
            if component is not Component.ACTIVATION and outcome.result is ComponentResult.NOT_APPLICABLE:
                self.step(f"configure {component.value}", StepOutcome.NOT_APPLICABLE, outcome.details)
