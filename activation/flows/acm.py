"""ACM activation (protocol.md §4.2 with corrections 2 and 8) and the CCM→ACM upgrade (§4.3 step 7).

The provisioning chain goes to AMT leaf first, then the firmware nonce and a fresh 20-byte client
nonce are signed (RSA PKCS#1 v1.5, SHA-256, firmware nonce first) with the leaf's key. The
generated AMT and MEBx passwords reach Vault before AdminSetup; AdminSetup and
UpgradeClientToAdmin are sent exactly once: when the answer is lost, the control mode read from
the device decides. The MEBx password follows in its own call (§4.4), after AdminSetup.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activation.flows.ccm import read_general_settings, send_setup_once
from activation.flows.components import Pause, delay_timer
from activation.flows.password_rotation import ensure_admin_password, set_mebx_password
from activation.flows.ports import (
    DeviceSecretsPort,
    FlowResult,
    ProgressPort,
    StepOutcome,
    store_initial_secret,
)
from activation.plan.activation_plan import ActivationPlan, ProvisioningCertificate
from activation.protocol.status import ActivationStatus, Component, ComponentMode, ComponentResult, ComponentStatus
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, NonIdempotentCallUnconfirmed
from activation.wsman import setup
from activation.wsman.setup import GeneralSettings
from devices.models import ControlMode
from rps_site.sensitive import Secret

NONCE_LENGTH: Final = 20
ACM_FAILED: Final = "Failed to activate in admin control mode."
UPGRADE_FAILED: Final = "Failed to upgrade to admin control mode."


class ProvisioningKeyUnusable(Exception):
    """The domain's private key cannot sign for its leaf certificate. Never carries key material."""


def acm_status_text(start_mode: ControlMode) -> str:
    """Correction 8: the status says where the device started."""
    if start_mode is ControlMode.PRE_PROVISIONING:
        return "Activated to admin control mode."
    if start_mode is ControlMode.CLIENT:
        return "Upgraded to admin control mode."
    return "Admin control mode."


def sign_configuration_nonces(certificate: ProvisioningCertificate, fw_nonce: bytes, mc_nonce: bytes) -> bytes:
    """§4.2 step 7: RSA PKCS#1 v1.5 over fwNonce ‖ mcNonce with SHA-256, even for a SHA-384
    certificate (the firmware verifies SHA-256 only)."""
    try:
        key = serialization.load_pem_private_key(certificate.private_key_pem.reveal().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise ProvisioningKeyUnusable("the provisioning key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProvisioningKeyUnusable(f"the provisioning key is {type(key).__name__}, AMT needs RSA")
    if not certificate.chain_der:
        raise ProvisioningKeyUnusable("the provisioning chain is empty")
    try:
        leaf_key = x509.load_der_x509_certificate(certificate.chain_der[0]).public_key()
    except ValueError:
        raise ProvisioningKeyUnusable("the leaf certificate is not readable DER") from None
    if not isinstance(leaf_key, rsa.RSAPublicKey) or leaf_key.public_numbers() != key.public_key().public_numbers():
        raise ProvisioningKeyUnusable("the provisioning key does not belong to the leaf certificate")
    return key.sign(fw_nonce + mc_nonce, padding.PKCS1v15(), hashes.SHA256())


async def activate_acm(
    amt: AmtSession,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    pause: Pause = delay_timer,
) -> FlowResult:
    """A device in pre-provisioning (`currentMode` 0) with an ACM profile. `amt` authenticates as
    the local system account of the payload, as for CCM."""
    result = FlowResult(status=ActivationStatus(status="Failed"))
    certificate = plan.provisioning_certificate
    if certificate is None or plan.mebx_password is None:
        return result.fail("ACM plan", ACM_FAILED, "the plan has no provisioning certificate or no MEBx password")

    settings = await read_general_settings(amt, result, ACM_FAILED)
    state = await _read_host_based_setup(amt, result, ACM_FAILED) if settings is not None else None
    if settings is None or state is None:
        return result

    if state.current_control_mode == ControlMode.ADMIN:
        # §4.2 step 5: an earlier AdminSetup was applied but its outcome never reached the server.
        # The admin password on the device may be one nobody stored: set the profile's, safely.
        return await _set_profile_passwords(
            amt,
            plan,
            realm=settings.digest_realm,
            current_password=None,
            mebx_password=plan.mebx_password,
            secrets=secrets,
            result=result,
        )
    if state.current_control_mode != ControlMode.PRE_PROVISIONING:
        return result.fail(
            "IPS_HostBasedSetupService.Get",
            ACM_FAILED,
            f"device reports CurrentControlMode {state.current_control_mode}, not pre-provisioning",
        )
    signed = await _send_chain_and_sign_nonces(amt, plan, certificate, state.configuration_nonce, result, ACM_FAILED)
    if signed is None:
        return result
    mc_nonce, signature = signed

    if not await _admin_setup(amt, plan, settings, mc_nonce, signature, secrets=secrets, result=result):
        return result

    await pause()
    amt.use_credentials(setup.ADMIN_USERNAME, plan.amt_password)
    await progress.report("Activation completed")

    # §4.4: the MEBx password, already in Vault with the AMT password.
    await set_mebx_password(
        amt, device_guid=plan.device_guid, mebx_password=plan.mebx_password, secrets=None, result=result
    )
    return _succeed(result, plan)


async def upgrade_to_acm(
    amt: AmtSession,
    plan: ActivationPlan,
    secrets: DeviceSecretsPort,
    progress: ProgressPort,
    *,
    current_password: Secret,
    pause: Pause = delay_timer,
) -> FlowResult:
    """A device in CCM (`currentMode` 1) with an ACM profile (§4.3 steps 5, 7-9).

    `current_password` is the device's working admin password (Vault's `AMT_PASSWORD`, which the
    validation compared with the payload's). After UpgradeClientToAdmin the admin password is
    rotated to the profile's when they differ, then the MEBx password is set.
    """
    result = FlowResult(status=ActivationStatus(status="Failed"))
    certificate = plan.provisioning_certificate
    if certificate is None or plan.mebx_password is None:
        return result.fail("ACM plan", UPGRADE_FAILED, "the plan has no provisioning certificate or no MEBx password")

    amt.use_credentials(setup.ADMIN_USERNAME, current_password)
    settings = await read_general_settings(amt, result, UPGRADE_FAILED)
    if settings is None:
        return result
    await progress.report("Device already activated")
    state = await _read_host_based_setup(amt, result, UPGRADE_FAILED)
    if state is None:
        return result

    if state.current_control_mode == ControlMode.ADMIN:
        result.record(
            "IPS_HostBasedSetupService.UpgradeClientToAdmin", StepOutcome.SKIPPED, "already in admin control mode"
        )
    elif state.current_control_mode != ControlMode.CLIENT:
        return result.fail(
            "IPS_HostBasedSetupService.Get",
            UPGRADE_FAILED,
            f"device reports CurrentControlMode {state.current_control_mode}, not client control mode",
        )
    else:
        signed = await _send_chain_and_sign_nonces(
            amt, plan, certificate, state.configuration_nonce, result, UPGRADE_FAILED
        )
        if signed is None:
            return result
        if not await _upgrade_client_to_admin(amt, *signed, result=result):
            return result
        await pause()
    await progress.report("Activation completed")

    return await _set_profile_passwords(
        amt,
        plan,
        realm=settings.digest_realm,
        current_password=current_password,
        mebx_password=plan.mebx_password,
        secrets=secrets,
        result=result,
    )


async def _read_host_based_setup(
    amt: AmtSession, result: FlowResult, failure_text: str
) -> setup.HostBasedSetupState | None:
    """IPS_HostBasedSetupService.Get: the control mode and the firmware nonce. None once `result` failed."""
    try:
        state = await amt.call(setup.get_host_based_setup())
    except CALL_ERRORS as error:
        result.fail("IPS_HostBasedSetupService.Get", getattr(error, "failure_text", failure_text), str(error))
        return None
    result.record(
        "IPS_HostBasedSetupService.Get", StepOutcome.SUCCESS, f"CurrentControlMode {state.current_control_mode}"
    )
    return state


async def _admin_setup(
    amt: AmtSession,
    plan: ActivationPlan,
    settings: GeneralSettings,
    mc_nonce: bytes,
    signature: bytes,
    *,
    secrets: DeviceSecretsPort,
    result: FlowResult,
) -> bool:
    """The passwords in Vault first, then AdminSetup, sent once (a second one after an applied one
    is refused). False once `result` failed."""
    assert plan.mebx_password is not None  # activate_acm checked it
    if not await store_initial_secret(secrets, plan.device_guid, plan.amt_password, plan.mebx_password, result):
        return False
    password_hash = setup.admin_password_hash(settings.digest_realm, plan.amt_password)
    return await send_setup_once(
        amt,
        setup.admin_setup(password_hash, mc_nonce=mc_nonce, signature=signature),
        reached_mode=ControlMode.ADMIN,
        failure_text=ACM_FAILED,
        secrets=secrets,
        device_guid=plan.device_guid,
        result=result,
    )


async def _upgrade_client_to_admin(amt: AmtSession, mc_nonce: bytes, signature: bytes, *, result: FlowResult) -> bool:
    """UpgradeClientToAdmin, sent once; an answer that never came is settled by reading the control
    mode back. False once `result` failed."""
    try:
        outcome = await amt.call(setup.upgrade_client_to_admin(mc_nonce=mc_nonce, signature=signature))
        upgraded = outcome.succeeded
        cause = "" if upgraded else f"ReturnValue {outcome.return_value}"
    except NonIdempotentCallUnconfirmed as lost:
        result.record("IPS_HostBasedSetupService.UpgradeClientToAdmin", StepOutcome.FAILURE, str(lost))
        try:
            after = await amt.call(setup.get_host_based_setup())
        except CALL_ERRORS as error:
            result.fail("IPS_HostBasedSetupService.Get", UPGRADE_FAILED, str(error))
            return False
        upgraded = after.current_control_mode == ControlMode.ADMIN
        cause = f"CurrentControlMode {after.current_control_mode}"
    except CALL_ERRORS as error:
        result.fail("IPS_HostBasedSetupService.UpgradeClientToAdmin", UPGRADE_FAILED, str(error))
        return False
    if not upgraded:
        result.fail("IPS_HostBasedSetupService.UpgradeClientToAdmin", UPGRADE_FAILED, cause)
        return False
    result.record("IPS_HostBasedSetupService.UpgradeClientToAdmin", StepOutcome.SUCCESS, cause)
    return True


async def _set_profile_passwords(
    amt: AmtSession,
    plan: ActivationPlan,
    *,
    realm: str,
    current_password: Secret | None,
    mebx_password: Secret,
    secrets: DeviceSecretsPort,
    result: FlowResult,
) -> FlowResult:
    """An activated device gets the profile's admin and MEBx passwords, then the flow succeeds."""
    if not await ensure_admin_password(
        amt,
        device_guid=plan.device_guid,
        realm=realm,
        current_password=current_password,
        new_password=plan.amt_password,
        secrets=secrets,
        result=result,
    ):
        return result
    mebx = await set_mebx_password(
        amt, device_guid=plan.device_guid, mebx_password=mebx_password, secrets=secrets, result=result
    )
    if not mebx.stored:
        return result.fail("save MEBx password", mebx.text)
    return _succeed(result, plan)


async def _send_chain_and_sign_nonces(
    amt: AmtSession,
    plan: ActivationPlan,
    certificate: ProvisioningCertificate,
    firmware_nonce: bytes,
    result: FlowResult,
    failure_text: str,
) -> tuple[bytes, bytes] | None:
    """§4.2 steps 3-4 (and §4.3 step 7): the chain leaf→root, then a fresh client nonce signed
    together with the firmware's. None when a step failed (recorded in `result`)."""
    if len(firmware_nonce) != NONCE_LENGTH:
        result.fail(
            "IPS_HostBasedSetupService.Get",
            failure_text,
            f"ConfigurationNonce is {len(firmware_nonce)} bytes, expected {NONCE_LENGTH}",
        )
        return None
    if not await _add_certificate_chain(amt, plan, certificate, result):
        return None
    mc_nonce = os.urandom(NONCE_LENGTH)
    try:
        signature = sign_configuration_nonces(certificate, firmware_nonce, mc_nonce)
    except ProvisioningKeyUnusable as error:
        result.fail("sign configuration nonces", failure_text, str(error))
        return None
    result.record("sign configuration nonces", StepOutcome.SUCCESS)
    return mc_nonce, signature


async def _add_certificate_chain(
    amt: AmtSession, plan: ActivationPlan, certificate: ProvisioningCertificate, result: FlowResult
) -> bool:
    """§4.2 step 6: leaf first, root last; a one-certificate chain is sent as leaf, never as root."""
    chain_failed = f"Device {plan.device_guid} activation failed. Error while adding the certificates to AMT."
    last = len(certificate.chain_der) - 1
    for index, certificate_der in enumerate(certificate.chain_der):
        call = setup.add_next_cert_in_chain(certificate_der, is_leaf=index == 0, is_root=index == last and last > 0)
        try:
            outcome = await amt.call(call)
        except CALL_ERRORS as error:
            result.fail(call.name, chain_failed, f"certificate {index + 1} of {last + 1}: {error}")
            return False
        if not outcome.succeeded:
            result.fail(
                call.name, chain_failed, f"certificate {index + 1} of {last + 1}: ReturnValue {outcome.return_value}"
            )
            return False
    result.record("IPS_HostBasedSetupService.AddNextCertInChain", StepOutcome.SUCCESS, f"{last + 1} certificates")
    return True


def _succeed(result: FlowResult, plan: ActivationPlan) -> FlowResult:
    text = acm_status_text(plan.device.payload.current_mode)
    status = result.status
    assert isinstance(status, ActivationStatus)
    status.status = text
    status.components[Component.ACTIVATION] = ComponentStatus(
        ComponentResult.SUCCESS, text.removesuffix("."), ComponentMode.ACM
    )
    result.succeeded = True
    return result
