"""The Vault implementation of `DeviceSecretsPort` for one device session: `devices/<guid>`
through devices.services, each call in a worker thread.

What a session may write follows what it has proven (README "What the device channel trusts"):

- `verified` (the runner sets it: the payload's password is the one stored): writes with
  check-and-set, as the flows ask;
- otherwise only an activation writes, and its first write *claims* the device's secret
  (`devices.services.device_secrets.device_secret_first_use`): refused while the stored secret is in use (a
  re-provisioning request is recorded) or another live activation holds it; replacing a stale
  or released secret keeps it as a prior Vault version. From then on the session owns what it
  wrote and writes on with check-and-set;
- deactivation and maintenance write nothing unless verified.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from activation.flows.ports import DeviceSecretRefused, StepOutcome, new_step
from activation.protocol.messages import ClientMethod, DeviceRequest
from activation.worker_threads import in_thread, landed
from devices.models import ControlMode, ProvisioningRun
from devices.services import device_secrets, runs
from devices.services.device_secrets import FirstUseWrite, SecretClaimRefused
from rps_site.sensitive import Secret

logger = logging.getLogger(__name__)


def secret_in_use_text(guid: str) -> str:
    return (
        f"Device {guid} activation failed. It was activated before and its stored password is in use, so an "
        "unverified request may not replace it; a re-provisioning request was recorded. If the device was reset "
        "locally (MEBx, CMOS clear), an admin of its tenant can release the request (portal: Re-provisioning "
        f"requests, or POST /api/v1/admin/devices/{guid}/release), then activate it again."
    )


def secret_busy_text(guid: str) -> str:
    return f"Device {guid} activation failed. Another activation of this device is in progress; try again when it ends."


class UnverifiedSecretWrite(DeviceSecretRefused):
    def __init__(self, guid: str) -> None:
        super().__init__(f"Device {guid}: the request did not prove it knows the stored password; nothing was stored.")


class VaultDeviceSecrets:
    def __init__(self, request: DeviceRequest) -> None:
        self.device_guid = request.device_guid
        self.tenant_id = request.tenant_id
        self.may_claim = request.action is ClientMethod.ACTIVATE
        self.run: ProvisioningRun | None = None  # set by the runner once the run is recorded
        self.verified = False  # set by the runner: the payload's password is the stored one
        # The profile a confirmed activation records (set by the runner from its plan).
        self.profile_name = ""
        self.first_use: FirstUseWrite | None = None  # what this session's claim wrote
        self._confirmed = False

    @property
    def owns_secret(self) -> bool:
        return self.verified or self.first_use is not None

    async def write_initial(self, guid: str, amt_password: Secret, mebx_password: Secret | None) -> None:
        values = {device_secrets.AMT_PASSWORD: amt_password}
        if mebx_password is not None:
            values[device_secrets.MEBX_PASSWORD] = mebx_password
        await self._claim(values, keep_existing=False)

    async def confirm_initial(self, guid: str, mode: ControlMode) -> None:
        if self.run is None or self.first_use is None:
            return
        confirmed = await in_thread(runs.device_activation_confirmed)(
            run=self.run,
            tenant_id=self.tenant_id,
            control_mode=int(mode),
            profile_name=self.profile_name,
            completes_release=self.first_use.released,
        )
        self._confirmed = self._confirmed or confirmed
        if not confirmed:
            logger.warning("device %s: the activation's claim on its secret was lost before Setup was confirmed", guid)

    async def forget_initial(self, guid: str) -> None:
        written = self.first_use
        if written is None or self.run is None:
            return
        await in_thread(device_secrets.device_secret_forget_first_use)(
            run=self.run, guid=guid, written=written, was_confirmed=self._confirmed
        )
        self.first_use = None

    async def write_pending(self, guid: str, amt_password: Secret) -> None:
        if not self.owns_secret:
            await self._claim({device_secrets.PENDING_AMT_PASSWORD: amt_password}, keep_existing=True)
            return
        await in_thread(device_secrets.device_password_stage)(guid=guid, amt_password=amt_password)

    async def promote_pending(self, guid: str) -> None:
        await self._require_ownership()
        await in_thread(device_secrets.device_password_promote)(guid=guid)
        if not self.verified and self.run is not None:
            # AMT accepted the password this session stored: it is in use from now on.
            await in_thread(runs.device_secret_confirmed)(run=self.run)

    async def write_mebx_password(self, guid: str, mebx_password: Secret) -> None:
        await self._merge({device_secrets.MEBX_PASSWORD: mebx_password})

    async def write_mps_password(self, guid: str, mps_password: Secret) -> None:
        await self._merge({device_secrets.MPS_PASSWORD: mps_password})

    async def write_tls_certificate(self, guid: str, certificate_pem: str) -> None:
        await self._merge({"TLS_ISSUED_CERTIFICATE": Secret(certificate_pem)})

    async def read_tls_certificate(self, guid: str) -> str | None:
        stored = await in_thread(device_secrets.device_secret_read)(guid=guid)
        certificate = stored.get("TLS_ISSUED_CERTIFICATE") if stored is not None else None
        return certificate.reveal() if certificate else None

    async def read_amt_password(self, guid: str) -> Secret | None:
        stored = await in_thread(device_secrets.device_secret_read)(guid=guid)
        return stored.get(device_secrets.AMT_PASSWORD) if stored is not None else None

    async def _merge(self, values: Mapping[str, Secret]) -> None:
        if not self.owns_secret:
            await self._claim(values, keep_existing=True)
            return
        await in_thread(device_secrets.device_secret_merge)(guid=self.device_guid, values=values)

    async def _require_ownership(self) -> None:
        if not self.owns_secret:
            raise UnverifiedSecretWrite(self.device_guid)

    async def _claim(self, values: Mapping[str, Secret], *, keep_existing: bool) -> None:
        if not self.may_claim or self.run is None:
            raise UnverifiedSecretWrite(self.device_guid)
        try:
            written: FirstUseWrite = await landed(
                in_thread(device_secrets.device_secret_first_use)(
                    run=self.run, guid=self.device_guid, values=values, keep_existing=keep_existing
                ),
                on_cancel=self._undo_cancelled_claim,
            )
        except SecretClaimRefused as refused:
            if refused.reason is SecretClaimRefused.Reason.IN_USE:
                raise DeviceSecretRefused(secret_in_use_text(self.device_guid)) from None
            raise DeviceSecretRefused(secret_busy_text(self.device_guid)) from None
        self.first_use = written
        if written.replaced is not None:
            # The stale or released secret stays in Vault as a prior version.
            new_step("replace stored device secret", StepOutcome.SUCCESS, written.reason)

    async def _undo_cancelled_claim(self, written: FirstUseWrite) -> None:
        """The session ended while its first write was in flight: the device was never told this
        password, so what was stored before comes back (finding 10: no blocking leftover)."""
        self.first_use = written
        await self.forget_initial(self.device_guid)
