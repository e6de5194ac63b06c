"""Provisioning flows as straight-line async functions over an `AmtSession` (STYLE.md rule 6).

Each returns a `FlowResult`: the status JSON for the terminal message and one `StepRecord` per
step for the run history. Which one runs:

- `currentMode` 0, CCM profile: `activate_ccm`; ACM profile: `activate_acm`
- `currentMode` 1 or 2: `reconfigure_activated` (a CCM device with an ACM profile is upgraded)
- `deactivate`; maintenance: `run_maintenance` (MPS work is returned, not done)
"""

from activation.flows.acm import activate_acm, upgrade_to_acm
from activation.flows.ccm import activate_ccm
from activation.flows.deactivate import deactivate
from activation.flows.maintenance import (
    MaintenanceResult,
    change_password,
    run_maintenance,
    sync_device_info,
    sync_hostname,
    sync_ip,
    sync_time,
)
from activation.flows.ports import DeviceSecretsPort, FlowResult, ProgressPort, StepOutcome, StepRecord
from activation.flows.reconfigure import reconfigure_activated

__all__ = [
    "DeviceSecretsPort",
    "FlowResult",
    "MaintenanceResult",
    "ProgressPort",
    "StepOutcome",
    "StepRecord",
    "activate_acm",
    "activate_ccm",
    "change_password",
    "deactivate",
    "reconfigure_activated",
    "run_maintenance",
    "sync_device_info",
    "sync_hostname",
    "sync_ip",
    "sync_time",
    "upgrade_to_acm",
]
