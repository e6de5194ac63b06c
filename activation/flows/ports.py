"""What flows need from outside the device wire: secret storage, progress messages, results."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from activation.protocol.status import ActivationStatus, PlainStatus
from activation.unexpected_failures import unexpected_failure
from devices.models import ControlMode, RunStep
from rps_site.sensitive import Secret
from rps_site.vault import VaultUnavailable

if TYPE_CHECKING:
    from activation.wsman.setup import GeneralSettings

SECRET_PROVIDER_FAILED = "Failed to save device information to Secret Provider"


class DeviceSecretRefused(Exception):
    """The device's secret may not be written by this session: the device channel is
    unauthenticated, so a client claiming pre-provisioning for a device whose stored password is
    in use must not replace it (README "What the device channel trusts"). `client_text` says
    what the operator can do."""

    def __init__(self, client_text: str) -> None:
        super().__init__(client_text)
        self.client_text = client_text


class DeviceSecretsPort(Protocol):
    """Vault `devices/<guid>` as flows use it (DESIGN.md "Nothing half-written"). Every method
    raises on failure (`DeviceSecretRefused` when this session may not write the secret); the
    Vault implementation lives with the storage layer."""

    async def write_initial(self, guid: str, amt_password: Secret, mebx_password: Secret | None) -> None:
        """First activation: store the passwords before the device is told to use them."""

    async def confirm_initial(self, guid: str, mode: ControlMode) -> None:
        """The device confirmed Setup/AdminSetup with the stored password (it is now in `mode`):
        the password is in use from now on."""

    async def forget_initial(self, guid: str) -> None:
        """The device never used what `write_initial` stored (Setup refused for certain, or the
        device rolled back): put back what was stored before, if anything."""

    async def write_pending(self, guid: str, amt_password: Secret) -> None:
        """Rotation: store `PENDING_AMT_PASSWORD` beside the working `AMT_PASSWORD`."""

    async def promote_pending(self, guid: str) -> None:
        """The device confirmed the pending password: it becomes `AMT_PASSWORD`."""

    async def write_mebx_password(self, guid: str, mebx_password: Secret) -> None:
        """An activated device gets a new MEBx password (reconfiguration, CCM→ACM upgrade): set
        `MEBX_PASSWORD`, keeping the other keys. Called before SetMEBxPassword."""

    async def write_mps_password(self, guid: str, mps_password: Secret) -> None:
        """CIRA: set `MPS_PASSWORD`, keeping the other keys. Called before AddMpServer (§4.10)."""

    async def write_tls_certificate(self, guid: str, certificate_pem: str) -> None:
        """TLS: set `TLS_ISSUED_CERTIFICATE` (the leaf RPS issued to AMT), keeping the other keys."""

    async def read_tls_certificate(self, guid: str) -> str | None:
        """`TLS_ISSUED_CERTIFICATE` (PEM), or None when RPS never issued the device one."""


class ProgressPort(Protocol):
    """Sends a `progress` message; the implementation drops it when the client did not advertise
    `progressSupported` (§2.8)."""

    async def report(self, text: str) -> None: ...


# A step's outcome as the run history stores it: declared once, on the model.
StepOutcome = RunStep.Outcome


@dataclass(frozen=True)
class StepRecord:
    name: str
    outcome: StepOutcome
    cause: str = ""
    # When the step ended (the run's steps are written together, at its end).
    at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False, repr=False)


class StepSink(Protocol):
    def append(self, step: StepRecord, /) -> None: ...


# The steps of the session running in this task, in the order flows record them. The runner sets
# it (activation.session_events.PublishedSteps); flows only add to it. A session cut short (the
# client gone, an exception out of a flow) still has its steps written: the flow's own result
# never reaches the runner then.
session_steps: ContextVar[StepSink | None] = ContextVar("session_steps", default=None)


def new_step(name: str, outcome: StepOutcome, cause: str = "") -> StepRecord:
    step = StepRecord(name, outcome, cause)
    sink = session_steps.get()
    if sink is not None:
        sink.append(step)
    return step


@dataclass
class FlowResult:
    status: ActivationStatus | PlainStatus
    succeeded: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    # AMT_GeneralSettings as the session read it first (§4.1 step 3); the network configuration
    # starts from this object (§4.7.1) instead of reading it again.
    general_settings: GeneralSettings | None = None

    def record(self, name: str, outcome: StepOutcome, cause: str = "") -> None:
        self.steps.append(new_step(name, outcome, cause))

    def fail(self, name: str, status_text: str, cause: str = "") -> FlowResult:
        """Record the failed step, set the status text, and return self to end the flow."""
        self.record(name, StepOutcome.FAILURE, cause or status_text)
        if isinstance(self.status, PlainStatus):
            self.status = PlainStatus(status_text)
        else:
            self.status.status = status_text
        self.succeeded = False
        return self


def secret_store_failure(error: Exception) -> str:
    """The status text of a failed secret write, naming the cause (never a value or a path)."""
    if isinstance(error, VaultUnavailable):
        return f"{SECRET_PROVIDER_FAILED}: the secret store is unavailable"
    return SECRET_PROVIDER_FAILED


async def forget_unused_device_secret(secrets: DeviceSecretsPort, device_guid: str, result: FlowResult) -> None:
    """AMT refused Setup/AdminSetup for certain, or the device was rolled back: the passwords
    stored for it are not in use."""
    try:
        await secrets.forget_initial(device_guid)
        result.record("forget unused device secret", StepOutcome.SUCCESS)
    except Exception as error:
        result.record("forget unused device secret", StepOutcome.FAILURE, unexpected_failure(error))


async def store_initial_secret(
    secrets: DeviceSecretsPort, device_guid: str, amt_password: Secret, mebx_password: Secret | None, result: FlowResult
) -> bool:
    """Write a first activation's passwords before the device is told to use them. False (the
    failure recorded in `result`) when they could not be stored: the device must not be touched."""
    try:
        await secrets.write_initial(device_guid, amt_password, mebx_password)
    except DeviceSecretRefused as refused:
        result.fail("save device secret", refused.client_text)
        return False
    except Exception as error:  # any storage failure
        cause = str(error) if isinstance(error, VaultUnavailable) else unexpected_failure(error)
        result.fail("save device secret", secret_store_failure(error), cause)
        return False
    result.record("save device secret", StepOutcome.SUCCESS)
    return True
