"""Which session-hub event becomes which MQTT event (events/devices.py), recorded at the
publisher's entry point; the broker side is tested end to end (tests/e2e/test_mqtt_events.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from activation.flows.ports import StepOutcome, StepRecord
from activation.session_events import SessionEnded, SessionInfo, StepEnded
from events import devices

GUID = "4c4c4544-0046-3610-8052-b5c04f4c5032"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(devices, "publish_event", lambda *event: sent.append(event))
    return sent


def session(action: str = "activate") -> SessionInfo:
    return SessionInfo(guid=GUID, tenant_id="", action=action, profile="p", client_address="127.0.0.1")


def step(name: str, outcome: StepOutcome, cause: str = "") -> StepEnded:
    return StepEnded(session(), 1, StepRecord(name, outcome, cause))


def ended(action: str, outcome: str, cause: str = "") -> SessionEnded:
    return SessionEnded(session(action), outcome, "", cause, 1.0, datetime.now(UTC))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            step("IPS_HostBasedSetupService.Setup", StepOutcome.SUCCESS),
            ("success", "Device activated in Client control mode.", ["Activator", "execute"], GUID),
        ),
        (
            step("IPS_HostBasedSetupService.AdminSetup", StepOutcome.SUCCESS),
            ("success", "Device activated in Activated to admin control mode.", ["Activator", "execute"], GUID),
        ),
        (
            step("IPS_HostBasedSetupService.UpgradeClientToAdmin", StepOutcome.SUCCESS),
            ("success", "Device activated in Upgraded to admin control mode.", ["Activator", "execute"], GUID),
        ),
        (
            step("sign configuration nonces", StepOutcome.FAILURE, "x"),
            ("fail", "Failed to activate", ["Activator"], GUID),
        ),
        (
            step("register with MPS", StepOutcome.FAILURE, "MPS answered 500"),
            ("fail", "unable to register metadata with MPS", ["Activator"], GUID),
        ),
        (step("configure TLS", StepOutcome.SUCCESS), ("success", "Configured TLS", ["Configurator", "TLS"], GUID)),
        (
            step("configure CIRAConnection", StepOutcome.FAILURE, "MPS unreachable"),
            ("fail", "Failed to configure CIRAConnection: MPS unreachable", ["Configurator", "CIRAConnection"], GUID),
        ),
        (ended("deactivate", "success"), ("success", "Device deactivated.", ["Deactivator"], GUID)),
        (
            ended("deactivate", "failure", "password does not match Vault"),
            ("fail", "Failed to deactivate: password does not match Vault", ["Deactivator"], GUID),
        ),
        (ended("maintenance", "success"), ("success", "Maintenance done.", ["Maintenance"], GUID)),
    ],
)
def test_session_events_become_device_events(
    published: list[tuple[Any, ...]], event: Any, expected: tuple[Any, ...]
) -> None:
    devices.device_event(event)
    assert published == [expected]


@pytest.mark.parametrize(
    "event",
    [
        step("IPS_HostBasedSetupService.Setup", StepOutcome.FAILURE, "fault"),
        step("register with MPS", StepOutcome.SUCCESS),
        step("configure TLS", StepOutcome.SKIPPED),
        step("AMT_GeneralSettings.Get", StepOutcome.SUCCESS),
        ended("activate", "success"),
    ],
)
def test_other_steps_and_activation_ends_publish_nothing(published: list[tuple[Any, ...]], event: Any) -> None:
    devices.device_event(event)
    assert published == []
