"""Giving an activated device a new admin or MEBx password without ever losing one (DESIGN.md
"Nothing half-written", correction 14).

The new AMT password is staged in Vault as `PENDING_AMT_PASSWORD` beside the working one, then AMT
is told (SetAdminAclEntryEx, sent once), then the pending password is promoted: when AMT answers
ReturnValue 0, or, when that answer is lost, once a digest login with the new password succeeds.
Otherwise the working password stays where it was and nothing is discarded.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass

from activation.flows.ports import (
    DeviceSecretRefused,
    DeviceSecretsPort,
    FlowResult,
    StepOutcome,
    secret_store_failure,
)
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS, AmtSessionError, AmtUnauthorized, NonIdempotentCallUnconfirmed
from activation.unexpected_failures import unexpected_failure
from activation.wsman import setup
from activation.wsman.pt_status import return_value_text
from activation.wsman.response import WsmanFault, WsmanParseError
from rps_site.sensitive import Secret

NEW_PASSWORD_UNCONFIRMED = "AMT did not confirm the new password; the stored password is unchanged"

# Upstream's maintenance states, named in `<task> failed at <STATE> <text>` (correction 16).
STATE_SET_ADMIN_ACL_ENTRY = "SET_ADMIN_ACL_ENTRY"
STATE_SAVE_TO_SECRET_PROVIDER = "SAVE_TO_SECRET_PROVIDER"


@dataclass(frozen=True)
class PasswordRotation:
    """`confirmed`: AMT uses the new password and the session now authenticates with it.
    `promoted`: Vault's `AMT_PASSWORD` is the new password. On failure `state` and `text` say
    where and why (the text never carries a password)."""

    confirmed: bool
    promoted: bool
    state: str = ""
    text: str = ""

    @property
    def succeeded(self) -> bool:
        return self.confirmed and self.promoted


def passwords_differ(current: Secret, wanted: Secret) -> bool:
    return not hmac.compare_digest(current.reveal().encode(), wanted.reveal().encode())


async def ensure_admin_password(
    amt: AmtSession,
    *,
    device_guid: str,
    realm: str,
    current_password: Secret | None,
    new_password: Secret,
    secrets: DeviceSecretsPort,
    result: FlowResult,
) -> bool:
    """Rotate to `new_password` unless the device is known to use it already (`current_password`
    None: unknown, so rotate). False when the rotation failed; the failure is in `result`."""
    if current_password is not None and not passwords_differ(current_password, new_password):
        result.record("AMT_AuthorizationService.SetAdminAclEntryEx", StepOutcome.SKIPPED, "password unchanged")
        return True
    rotation = await rotate_admin_password(
        amt,
        device_guid=device_guid,
        realm=realm,
        current_password=current_password,
        new_password=new_password,
        secrets=secrets,
        result=result,
    )
    if not rotation.succeeded:
        result.fail("change AMT password", f"Failed to change the AMT password: {rotation.text}")
    return rotation.succeeded


async def rotate_admin_password(
    amt: AmtSession,
    *,
    device_guid: str,
    realm: str,
    current_password: Secret | None,
    new_password: Secret,
    secrets: DeviceSecretsPort,
    result: FlowResult,
) -> PasswordRotation:
    """`amt` must authenticate with `current_password` (the working one); it is left
    authenticating with the password the device uses at the end (the new one only once
    confirmed). `current_password` None: the session's credentials are not the admin account's
    (ACM retry case), and are not restored after a failed check of the new password."""
    previous_username = amt.username

    not_staged = await _stage_pending(secrets, device_guid, new_password, result)
    if not_staged is not None:
        return not_staged

    # Sent once: a resend after an applied change would authenticate with the old password, be
    # refused, and hide that the first one worked.
    change = dataclasses.replace(setup.set_admin_acl_entry_ex(realm, new_password), non_idempotent=True)
    try:
        outcome = await amt.call(change)
    except NonIdempotentCallUnconfirmed as lost:
        result.record(change.name, StepOutcome.FAILURE, str(lost))
        confirmed = await _login_works(amt, new_password, result)
        if not confirmed:
            if current_password is not None:
                amt.use_credentials(previous_username, current_password)
            return PasswordRotation(False, False, STATE_SET_ADMIN_ACL_ENTRY, NEW_PASSWORD_UNCONFIRMED)
    except AmtSessionError as error:
        result.record(change.name, StepOutcome.FAILURE, str(error))
        return PasswordRotation(False, False, STATE_SET_ADMIN_ACL_ENTRY, error.failure_text)
    except WsmanFault as fault:
        result.record(change.name, StepOutcome.FAILURE, str(fault))
        return PasswordRotation(False, False, STATE_SET_ADMIN_ACL_ENTRY, "Bad Request")
    except WsmanParseError as error:
        result.record(change.name, StepOutcome.FAILURE, str(error))
        return PasswordRotation(False, False, STATE_SET_ADMIN_ACL_ENTRY, "Unknown error has occured")
    else:
        if not outcome.succeeded:
            # Refused for certain: the working password is still the device's.
            text = return_value_text(outcome.return_value)
            result.record(change.name, StepOutcome.FAILURE, text)
            return PasswordRotation(False, False, STATE_SET_ADMIN_ACL_ENTRY, text)
        result.record(change.name, StepOutcome.SUCCESS)
        amt.use_credentials(setup.ADMIN_USERNAME, new_password)  # §4.3 step 8: no wait

    try:
        await secrets.promote_pending(device_guid)
    except Exception as error:
        # The device uses the new password and Vault holds it as PENDING_AMT_PASSWORD: not lost.
        result.record("promote pending AMT password", StepOutcome.FAILURE, unexpected_failure(error))
        return PasswordRotation(True, False, STATE_SAVE_TO_SECRET_PROVIDER, secret_store_failure(error))
    result.record("promote pending AMT password", StepOutcome.SUCCESS)
    return PasswordRotation(True, True)


async def _stage_pending(
    secrets: DeviceSecretsPort, device_guid: str, new_password: Secret, result: FlowResult
) -> PasswordRotation | None:
    """The new password in Vault as PENDING_AMT_PASSWORD; the failed rotation when it is not there."""
    try:
        await secrets.write_pending(device_guid, new_password)
    except DeviceSecretRefused as refused:
        result.record("stage pending AMT password", StepOutcome.FAILURE, refused.client_text)
        return PasswordRotation(False, False, STATE_SAVE_TO_SECRET_PROVIDER, refused.client_text)
    except Exception as error:  # any storage failure: the device must not be told
        result.record("stage pending AMT password", StepOutcome.FAILURE, unexpected_failure(error))
        return PasswordRotation(False, False, STATE_SAVE_TO_SECRET_PROVIDER, secret_store_failure(error))
    result.record("stage pending AMT password", StepOutcome.SUCCESS)
    return None


async def _login_works(amt: AmtSession, new_password: Secret, result: FlowResult) -> bool:
    """The change's answer was lost: a digest login with the new password says whether it applied."""
    amt.use_credentials(setup.ADMIN_USERNAME, new_password)
    try:
        await amt.call(setup.get_general_settings())
    except AmtUnauthorized as refused:
        result.record("login with the new password", StepOutcome.FAILURE, str(refused))
        return False
    except CALL_ERRORS as error:
        # Unknown: both passwords stay in Vault (working + pending) for the next attempt.
        result.record("login with the new password", StepOutcome.FAILURE, str(error))
        return False
    result.record("login with the new password", StepOutcome.SUCCESS)
    return True


@dataclass(frozen=True)
class MebxPasswordChange:
    stored: bool
    text: str = ""


async def set_mebx_password(
    amt: AmtSession,
    *,
    device_guid: str,
    mebx_password: Secret,
    secrets: DeviceSecretsPort | None,
    result: FlowResult,
) -> MebxPasswordChange:
    """§4.4. `secrets` given: store `MEBX_PASSWORD` first (an activated device); None: the first
    activation already stored it with the AMT password.

    A refusal does not end the flow (upstream never reads the ReturnValue; the device is activated
    and its admin password known) but is recorded as a failed step with its cause.
    """
    if secrets is not None:
        try:
            await secrets.write_mebx_password(device_guid, mebx_password)
        except DeviceSecretRefused as refused:
            result.record("save MEBx password", StepOutcome.FAILURE, refused.client_text)
            return MebxPasswordChange(stored=False, text=refused.client_text)
        except Exception as error:
            result.record("save MEBx password", StepOutcome.FAILURE, unexpected_failure(error))
            return MebxPasswordChange(stored=False, text=secret_store_failure(error))
        result.record("save MEBx password", StepOutcome.SUCCESS)

    call = setup.set_mebx_password(mebx_password)
    try:
        outcome = await amt.call(call)
    except CALL_ERRORS as error:
        result.record(call.name, StepOutcome.FAILURE, str(error))
        return MebxPasswordChange(stored=True, text=getattr(error, "failure_text", "Bad Request"))
    if not outcome.succeeded:
        text = return_value_text(outcome.return_value)
        result.record(call.name, StepOutcome.FAILURE, text)
        return MebxPasswordChange(stored=True, text=text)
    result.record(call.name, StepOutcome.SUCCESS)
    return MebxPasswordChange(stored=True)
