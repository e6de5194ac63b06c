"""Provisioning flows as straight-line async functions over an `AmtSession` (STYLE.md rule 6).

Each returns a `FlowResult`: the status JSON for the terminal message and one `StepRecord` per
step for the run history. Which activation flow runs is decided in one place,
`activation.plan.flow_choice.ACTIVATION_FLOWS` (transport x `currentMode` x profile, protocol.md
§4-§5): `activate_ccm`, `activate_acm`, the TLS-enforced pair of `tls_enforced.py`,
`activate_through_tls_tunnel`, `reconfigure_activated` and `upgrade_to_acm`. A successful
activation is followed by `configure.configure_after_activation` (§4.6-4.10). `deactivate` and
`run_maintenance` serve the other two actions (maintenance returns its MPS work, not done).

Errors, one idiom (STYLE.md rules 6 and 8: straight-line code, typed errors that say the cause):

- A WS-Man exchange that fails is caught as `activation.session_errors.CALL_ERRORS`, right at the
  `await amt.call(...)`, and fails that step with its cause: `result.fail(...)` in an activation
  flow, `raise ComponentFailed(...)` in a configuration component (which fails the component,
  not the session). Nothing else is caught around a call.
- A storage write the device must not run ahead of (Vault, MPS) is caught where it is made:
  `DeviceSecretRefused` and `VaultUnavailable` by name, with the text the client is sent; any
  other exception through `activation.unexpected_failures.unexpected_failure(error)`, which
  records its type name on the step and leaves the exception, with its traceback, to be logged
  once when the session ends.
- Never caught in a flow: `ProtocolError` (a refusal), `UnsafeXml` and `DeviceStoppedAnswering`
  (they end the session), `asyncio.CancelledError`. The runner's guard (`activation.runner`)
  turns each into the session's terminal message and recorded failure.
- Waits where AMT needs time are `await pause()` (`components.Pause`): the operator's timers,
  no numbers in the flows.
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
