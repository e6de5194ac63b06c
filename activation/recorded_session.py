"""What a device session records and what it has proven: its run in the registry with each step,
the end of the run however it ends, and whether the request is verified (the payload's password
is the one Vault holds, §2.6.5-2.6.6). A run that has not proven itself changes nothing stored
about its device (README "What the device channel trusts")."""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from activation.device_secrets import VaultDeviceSecrets
from activation.flows.ports import FlowResult, StepOutcome, StepRecord
from activation.protocol.activation_checks import password_mismatch_text
from activation.protocol.messages import (
    DeviceRequest,
    ProtocolError,
)
from activation.protocol.server_messages import (
    error_message,
    success_message,
)
from activation.protocol.status import ActivationStatus, Component, ComponentResult, ComponentStatus
from activation.session_events import PublishedSteps, SessionInfo
from activation.worker_threads import in_thread, landed
from devices.mps import MpsOutcome
from devices.services import runs
from devices.services.runs import DeviceReport, RunStarted, VerifiedChange
from rps_site.sensitive import Secret

logger = logging.getLogger(__name__)


class RecordedSession:
    """The bookkeeping half of `activation.runner.DeviceSessionRunner`."""

    def __init__(self, request: DeviceRequest, *, client_address: str) -> None:
        self.request = request
        self.client_address = client_address
        self.secrets = VaultDeviceSecrets(request)
        self.run: Any = None
        payload = request.payload
        self.report = DeviceReport(
            hostname=payload.hostname,
            dns_suffix=payload.fqdn,
            amt_version=payload.ver,
            amt_build=payload.build,
            amt_sku=payload.sku,
            control_mode=int(payload.current_mode),
        )
        self.session = SessionInfo(
            guid=request.device_guid,
            tenant_id=request.tenant_id,
            action=request.action.value,
            profile=request.command.profile,
            client_address=client_address,
        )
        # The session's steps in the order they ended: the runner's own and, through
        # `session_steps`, every step a flow records, also when a session is cut short and the
        # flow's result never comes back. Written with the end of the run, in one transaction.
        self._steps = PublishedSteps(lambda: self.session)

    async def _started(self, started: RunStarted) -> None:
        self.run = started.run
        self.secrets.run = started.run
        self.session = replace(
            self.session, run_id=started.run.pk, tenant_id=started.owner_tenant_id or self.request.tenant_id
        )

    async def _verify_payload_password(self, *, forced: bool) -> None:
        """§2.6.5-2.6.6: the payload's password must be the one Vault holds for the device, unless
        `-f`; a forced request whose password matches anyway is verified all the same."""
        request = self.request
        stored = await self.secrets.read_amt_password(request.device_guid)
        if self._matches(stored):
            self.secrets.verified = True
        elif not forced:
            self._note("check stored password", StepOutcome.FAILURE, "password does not match Vault")
            raise ProtocolError(password_mismatch_text(request.device_guid))
        else:
            self._note(
                "check stored password", StepOutcome.SKIPPED, "-f, not the stored password: nothing stored changes"
            )

    def _matches(self, stored: Secret | None) -> bool:
        password = self.request.amt_password
        if stored is None or password is None:
            return False
        return hmac.compare_digest(stored.reveal().encode(), password.reveal().encode())

    async def _checked_current_password(self) -> Secret:
        """An activated device: Vault's password when it has one (it must match the payload's),
        else the payload's (a device another server activated: its first use here)."""
        request = self.request
        stored = await self.secrets.read_amt_password(request.device_guid)
        if stored is not None:
            if not self._matches(stored):
                self._note("check stored password", StepOutcome.FAILURE, "password does not match Vault")
                raise ProtocolError(password_mismatch_text(request.device_guid))
            self.secrets.verified = True
            return stored
        if request.amt_password is None:
            raise ProtocolError(f"Device {request.device_guid} activation failed. Missing password.")
        return request.amt_password

    def _verified_only(self) -> VerifiedChange | None:
        """A run that failed after proving itself still refreshes what its device reported."""
        return VerifiedChange(report=self.report) if self.secrets.verified else None

    async def _conclude(self, result: FlowResult, *, change: VerifiedChange | None) -> str:
        status = result.status
        failed_step = next(
            (step for step in result.steps if step.outcome is StepOutcome.FAILURE and result.succeeded is False), None
        )
        if isinstance(status, ActivationStatus) and not result.succeeded:
            activation = status.components.get(Component.ACTIVATION)
            if activation is None or activation.result is ComponentResult.NOT_APPLICABLE:
                # The activation itself failed: its component says why, not "not part of this configuration".
                status.components[Component.ACTIVATION] = ComponentStatus(
                    ComponentResult.FAILURE, status.status.removesuffix(".")
                )
        await landed(
            in_thread(runs.run_finish)(
                run=self.run,
                succeeded=result.succeeded,
                status_message=status.status,
                failure_cause=(f"{failed_step.name}: {failed_step.cause}" if failed_step else ""),
                steps=self._step_rows(),
                change=change,
            )
        )
        ok = result.succeeded and not (isinstance(status, ActivationStatus) and status.any_component_failed)
        return success_message(status) if ok else error_message(status)

    def _note(self, name: str, outcome: StepOutcome, detail: str) -> None:
        self._steps.append(StepRecord(name, outcome, detail))

    def _note_mps(self, name: str, outcome: MpsOutcome, *, succeeded: bool | None = None) -> None:
        """An MPS call's step; skipped when MPS is not configured (nothing was sent)."""
        if not outcome.configured:
            self._note(name, StepOutcome.SKIPPED, outcome.detail)
            return
        succeeded = outcome.ok if succeeded is None else succeeded
        self._note(name, StepOutcome.SUCCESS if succeeded else StepOutcome.FAILURE, outcome.detail)

    def _step_rows(self) -> list[tuple[str, str, str, datetime]]:
        return [(step.name, step.outcome.value, step.cause, step.at) for step in self._steps]

    async def _finish_quietly(self, succeeded: bool, status: str, cause: str) -> None:
        if self.run is None or self.run.finished_at is not None:
            return
        try:
            await landed(
                in_thread(runs.run_finish)(
                    run=self.run,
                    succeeded=succeeded,
                    status_message=status,
                    failure_cause=cause,
                    steps=self._step_rows(),
                    change=self._verified_only(),
                )
            )
        except Exception:
            logger.exception("could not record the end of a device session")
