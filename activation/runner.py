"""One device connection's work, from its first message to its terminal message.

The runner resolves the plan, runs the flow, records the run and each step in the device
registry, and registers the device with MPS. Everything it does is inside one guard: whatever
goes wrong ends only this session, with an `error` message naming the cause, and the failed step
recorded. ORM and Vault calls run in worker threads (`thread_sensitive=False`) so that hundreds
of sessions never queue behind one another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any, Final

from django.conf import settings

from activation import session_events
from activation.flows import (
    activate_acm,
    activate_ccm,
    deactivate,
    reconfigure_activated,
    run_maintenance,
    upgrade_to_acm,
)
from activation.flows.configure import configure_after_activation
from activation.flows.deactivate import DEACTIVATED
from activation.flows.ports import FlowResult, StepOutcome, session_steps
from activation.flows.tls_enforced import activate_acm_tls_enforced, activate_ccm_tls_enforced
from activation.flows.tls_tunnel import activate_through_tls_tunnel
from activation.mps_record import mps_device_record
from activation.plan.flow_choice import ActivationFlow, FlowPlan
from activation.plan.passwords import generate_amt_password
from activation.plan.resolve import (
    check_device_tenant,
    not_enrolled_text,
    other_tenant_text,
    resolve_activation,
)
from activation.protocol.messages import ClientMethod, DeviceRequest, MaintenanceTask, ProtocolError
from activation.protocol.server_messages import (
    error_message,
    validation_error_message,
)
from activation.protocol.status import ActivationStatus, PlainStatus
from activation.recorded_session import RecordedSession
from activation.session import AmtSession
from activation.session_errors import DeviceStoppedAnswering
from activation.session_events import SessionStarted, session_ended
from activation.socket_relay import Send, SocketProgress, SocketTransport
from activation.tunnel import (
    PortSwitchingTransport,
    TlsTunnelTransport,
    session_options,
    tls_restart_seconds,
)
from activation.unexpected_failures import log_unexpected_failures, session_failures, unexpected_failure
from activation.worker_threads import in_thread, landed
from activation.wsman import setup
from activation.wsman.response import UnsafeXml
from devices.models import ControlMode, Device
from devices.mps import MpsClient
from devices.services import device_secrets, runs
from devices.services.runs import RunStarted, VerifiedChange
from profiles.models import ActivationMode
from rps_site.sensitive import Secret
from rps_site.vault import VaultUnavailable

logger = logging.getLogger(__name__)


# `-f` without a password (rpc-go never sends one): AMT refuses an empty password as it refuses
# upstream's `undefined`, and the flows report upstream's text ("Unable to authenticate with AMT").
NO_PASSWORD: Final = Secret("")
MPS_UNAVAILABLE: Final = "MPS Unavailable."
# Forced (`-f`) requests whose password is not the stored one prove nothing: these tasks would
# change what is stored about the device (Vault, MPS), so they need the stored password.
TASKS_CHANGING_STORED_RECORDS: Final = frozenset(
    {MaintenanceTask.CHANGE_PASSWORD, MaintenanceTask.SYNC_HOSTNAME, MaintenanceTask.SYNC_DEVICE_INFO}
)
RECORDS_KEPT: Final = "Stored records kept: the password could not be verified against one stored for this device."


def amt_session(
    transport: SocketTransport | TlsTunnelTransport | PortSwitchingTransport,
    request: DeviceRequest,
    *,
    username: str,
    password: Any,
) -> AmtSession:
    return AmtSession(
        transport,
        device_guid=request.device_guid,
        username=username,
        password=password,
        wsman_timeout=settings.WSMAN_TIMEOUT,
        retry_delay=settings.RETRY_DELAY,
        **session_options(transport),  # port 16993, persistent, through the TLS tunnel (§5.2)
    )


class DeviceSessionRunner(RecordedSession):
    """Runs one request; `terminal_message` is what the consumer sends last."""

    def __init__(
        self,
        request: DeviceRequest,
        transport: SocketTransport | TlsTunnelTransport | PortSwitchingTransport,
        send: Send,
        *,
        client_address: str,
    ) -> None:
        super().__init__(request, client_address=client_address)
        self.transport = transport
        self.progress = SocketProgress(send, request.accepts_progress)
        self.mps = MpsClient.from_settings()
        self._cancel_cause = ""

    async def execute(self) -> str:
        token = session_steps.set(self._steps)
        failures: list[BaseException] = []
        failures_token = session_failures.set(failures)
        started, terminal = time.monotonic(), None
        session_events.publish(SessionStarted(self.session, datetime.now(UTC)))
        try:
            terminal = await self._guarded()
            return terminal
        finally:
            session_steps.reset(token)
            session_failures.reset(failures_token)
            log_unexpected_failures(failures, device_guid=self.request.device_guid)
            recorded_cause = getattr(self.run, "failure_cause", "")
            session_events.publish(
                session_ended(
                    self.session, steps=self._steps, terminal=terminal, recorded_cause=recorded_cause, started=started
                )
            )

    def cancelling_because(self, cause: str) -> None:
        """The consumer is about to cancel this session for `cause` (a protocol error, the session
        deadline): the run records it instead of "client disconnected"."""
        self._cancel_cause = cause

    async def _guarded(self) -> str:
        try:
            return await self._execute()
        except asyncio.CancelledError:
            cause = self._cancel_cause or "client disconnected"
            await self._finish_quietly(False, cause if self._cancel_cause else "", cause)
            raise
        except DeviceStoppedAnswering as silent:
            self._note(silent.call_name, StepOutcome.FAILURE, silent.client_text)
            await self._finish_quietly(False, silent.client_text, silent.client_text)
            return error_message(PlainStatus(silent.client_text))
        except ProtocolError as refused:
            await self._finish_quietly(False, refused.client_text, refused.client_text)
            return validation_error_message(refused)
        except UnsafeXml as hostile:
            # SECURITY.md 10: a DTD, an entity or an external reference ends the session, whatever
            # step it reached; it is never an ordinary failure a flow moves on from.
            logger.warning(
                "security event: device %s sent unsafe XML from %s; session ended",
                self.request.device_guid,
                self.client_address,
            )
            text = f"Device {self.request.device_guid} sent unsafe XML; the session was ended."
            self._note("unsafe XML from the device", StepOutcome.FAILURE, str(hostile))
            await self._finish_quietly(False, text, f"security event: {hostile}")
            return error_message(PlainStatus(text))
        except VaultUnavailable:
            # Fail closed: the flows never tell a device a password that is not stored first.
            text = "Failed: the secret store is unavailable"
            await self._finish_quietly(False, text, "secret store unavailable")
            return error_message(PlainStatus(text))
        except Exception as error:  # the guard: nothing escapes to other sessions
            logger.exception("device session failed (%s)", type(error).__name__)
            cause = f"internal error ({type(error).__name__})"
            await self._finish_quietly(False, cause, cause)
            return error_message(PlainStatus(f"Failed: {cause}"))

    async def _execute(self) -> str:
        request = self.request
        # The device channel is unauthenticated: a tenant outside RPS_DEVICE_TENANTS is refused
        # before anything is recorded under it.
        check_device_tenant(request)
        try:
            started: RunStarted = await landed(
                in_thread(runs.run_start)(
                    guid=request.device_guid,
                    tenant_id=request.tenant_id,
                    action=request.action.value,
                    profile_name=request.command.profile,
                    client_address=self.client_address,
                    report=self.report,
                ),
                on_cancel=self._started,  # a cancel during the insert still closes the run
            )
        except runs.DeviceNotEnrolled:
            logger.warning(
                "refused device %s: not enrolled in tenant %r (from %s)",
                request.device_guid,
                request.tenant_id,
                self.client_address,
            )
            raise ProtocolError(not_enrolled_text(request)) from None
        await self._started(started)
        # Recorded on the device's own history (its owner's), never under the tenant it named.
        if started.owner_tenant_id is not None and started.owner_tenant_id != request.tenant_id:
            self._note("check device tenant", StepOutcome.FAILURE, "the request named another tenant")
            raise ProtocolError(other_tenant_text(request))
        if not started.enrolled:
            self._note("check enrollment", StepOutcome.FAILURE, "not enrolled in the tenant the request named")
            raise ProtocolError(not_enrolled_text(request))
        if request.action is ClientMethod.ACTIVATE:
            return await self._activate()
        if request.action is ClientMethod.DEACTIVATE:
            return await self._deactivate()
        if request.action is ClientMethod.MAINTENANCE:
            return await self._maintenance()
        raise ProtocolError(f"Device {request.device_guid} {request.action.value} is not supported by this server.")

    async def _activate(self) -> str:
        try:
            chosen = await in_thread(resolve_activation)(self.request)
        except ProtocolError as refused:
            self._note("resolve plan", StepOutcome.FAILURE, refused.client_text)
            raise
        plan = chosen.activation
        self._note("resolve plan", StepOutcome.SUCCESS, f"{plan.mode.value} with profile {plan.profile_name}")
        self.secrets.profile_name = plan.profile_name  # recorded as soon as Setup is confirmed
        if chosen.flow in (ActivationFlow.RECONFIGURE, ActivationFlow.UPGRADE_TO_ACM):
            result, amt = await self._run_on_activated_device(chosen)
        else:
            result, amt = await self._run_from_pre_provisioning(chosen)
        if not result.succeeded:
            return await self._conclude(result, change=self._verified_only())
        await self._register_and_configure(amt, chosen, result)
        # The activation completed: it proves the request, binds an unbound device to the tenant
        # it named, and the password stored for it is in use.
        change = VerifiedChange(
            report=self.report,
            status=Device.Status.ACTIVATED,
            control_mode=int(ControlMode.ADMIN if plan.mode is ActivationMode.ACM else ControlMode.CLIENT),
            profile_name=plan.profile_name,
            bind_tenant_id=self.request.tenant_id,
            credential=Device.Credential.CONFIRMED,
        )
        return await self._conclude(result, change=change)

    async def _run_from_pre_provisioning(self, chosen: FlowPlan) -> tuple[FlowResult, AmtSession]:
        """The flow `chosen` names for a device in pre-provisioning (`ACTIVATION_FLOWS`)."""
        request, plan, flow = self.request, chosen.activation, chosen.flow
        amt = amt_session(self.transport, request, username=request.payload.username, password=request.amt_password)
        if flow is ActivationFlow.CCM:
            return await activate_ccm(amt, plan, self.secrets, self.progress), amt
        if flow is ActivationFlow.ACM:
            return await activate_acm(amt, plan, self.secrets, self.progress), amt
        if flow is ActivationFlow.THROUGH_TLS_TUNNEL:
            assert isinstance(self.transport, PortSwitchingTransport) and chosen.tls_while_activating is not None
            tunnel = self.transport
            return await activate_through_tls_tunnel(
                amt,
                tunnel,
                plan,
                chosen.tls_while_activating,
                self.secrets,
                self.progress,
                open_tunnel_session=lambda: amt_session(
                    tunnel, request, username=setup.ADMIN_USERNAME, password=plan.amt_password
                ),
                # rpc-go waits this long before reconnecting to AMT's restarted TLS listener (§5.3).
                switch_delay_seconds=tls_restart_seconds(),
            )
        assert isinstance(self.transport, TlsTunnelTransport)
        if flow is ActivationFlow.CCM_TLS_ENFORCED:
            # CommitChanges after Setup, then a new tunnel (activation/flows/tls_enforced.py).
            result = await activate_ccm_tls_enforced(
                amt,
                self.transport,
                plan,
                self.secrets,
                self.progress,
                local_password=request.amt_password,
            )
            return result, amt
        # CCM through the tunnel, TLS between the phases when the profile has it, then the upgrade.
        result = await activate_acm_tls_enforced(
            amt,
            self.transport,
            plan,
            self.secrets,
            self.progress,
            local_password=request.amt_password,
            tls=chosen.tls_while_activating,
        )
        return result, amt

    async def _run_on_activated_device(self, chosen: FlowPlan) -> tuple[FlowResult, AmtSession]:
        """§4.3: reconfigure, or upgrade a CCM device to ACM, logged in with the working password."""
        current_password = await self._checked_current_password()
        amt = amt_session(self.transport, self.request, username=setup.ADMIN_USERNAME, password=current_password)
        run = upgrade_to_acm if chosen.flow is ActivationFlow.UPGRADE_TO_ACM else reconfigure_activated
        result = await run(
            amt,
            chosen.activation,
            self.secrets,
            self.progress,
            current_password=current_password,
        )
        return result, amt

    async def _register_and_configure(self, amt: AmtSession, chosen: FlowPlan, result: FlowResult) -> None:
        """§4.5 and §4.6-4.10 after a successful activation: MPS learns of the device, the profile's
        configuration runs (its steps reach the run through session_steps), MPS gets the outcome."""
        plan, request = chosen.activation, self.request
        tags = list(plan.tags)
        outcome = await self.mps.register_device(mps_device_record(plan, request, tags=tags))
        self._note_mps("register with MPS", outcome)
        await configure_after_activation(
            amt,
            chosen.configuration,
            result,
            secrets=self.secrets,
            mps=self.mps,
            progress=self.progress,
        )
        if isinstance(result.status, ActivationStatus):
            # §4.5: the second registration carries the final component outcomes.
            final = mps_device_record(plan, request, tags=tags, status=result.status)
            outcome = await self.mps.register_device(final)
            self._note_mps("update MPS with the outcome", outcome)

    async def _deactivate(self) -> str:
        request = self.request
        await self._verify_payload_password(forced=request.command.force)
        amt = amt_session(
            self.transport, request, username=setup.ADMIN_USERNAME, password=request.amt_password or NO_PASSWORD
        )
        result = await deactivate(amt)
        if not result.succeeded:
            return await self._conclude(result, change=self._verified_only())
        if not self.secrets.verified:
            # A forced request with another password: the device did what it was asked; what is
            # stored about it stays until someone who knows its password (or an admin) acts.
            self._note("forget stored records", StepOutcome.SKIPPED, RECORDS_KEPT)
            result.status = PlainStatus(f"{DEACTIVATED}. {RECORDS_KEPT}")
            return await self._conclude(result, change=None)
        credential = Device.Credential.UNKNOWN
        try:
            await in_thread(device_secrets.device_secret_destroy)(guid=request.device_guid)
            self._note("destroy device secret", StepOutcome.SUCCESS, "")
        except Exception as error:
            # The device is in pre-provisioning: what stays in Vault is no longer in use.
            credential = Device.Credential.UNCONFIRMED
            result.fail(
                "destroy device secret", "Failed to remove device from secret provider", unexpected_failure(error)
            )
        else:
            outcome = await self.mps.delete_device(guid=request.device_guid, tenant_id=request.tenant_id)
            removed = outcome.ok or outcome.status == 404  # §4.11: a 404 is fine
            self._note_mps("remove from MPS", outcome, succeeded=removed)
            if not removed:
                result.status = PlainStatus(f"{DEACTIVATED}. {MPS_UNAVAILABLE}")
        change = VerifiedChange(
            report=self.report,
            status=Device.Status.DEACTIVATED,
            control_mode=int(ControlMode.PRE_PROVISIONING),
            profile_name="",
            credential=credential,
        )
        return await self._conclude(result, change=change)

    async def _maintenance(self) -> str:
        request = self.request
        task = request.command.task
        await self._verify_payload_password(forced=request.command.force)
        if not self.secrets.verified and task in TASKS_CHANGING_STORED_RECORDS:
            assert task is not None
            text = (
                f"{task.value} failed at INITIAL the password is not the one stored for Device {request.device_guid}, "
                f"and {task.value} changes what is stored about it: -f cannot skip that check"
            )
            refused = FlowResult(status=PlainStatus(text))
            refused.fail("check stored password", text, "forced request with a password that is not the stored one")
            return await self._conclude(refused, change=None)
        amt = amt_session(
            self.transport, request, username=setup.ADMIN_USERNAME, password=request.amt_password or NO_PASSWORD
        )
        result = await run_maintenance(amt, request, self.secrets, new_password=generate_amt_password())
        if result.succeeded and result.mps_update is not None:
            outcome = await self.mps.update_device({"tenantId": request.tenant_id, **result.mps_update})
            if not outcome.ok:
                result.mps_failed(outcome.detail)
            self._note_mps("update MPS", outcome)
        if result.succeeded and result.mps_refresh:
            outcome = await self.mps.refresh_device(guid=request.device_guid, tenant_id=request.tenant_id)
            refreshed = outcome.ok or outcome.status == 404
            if not refreshed:
                result.mps_failed(outcome.detail)
            self._note_mps("refresh MPS", outcome, succeeded=refreshed)
        return await self._conclude(result, change=self._verified_only())
