"""ACM activation and the CCM→ACM upgrade against the scripted device."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activation.flows.acm import ProvisioningKeyUnusable, activate_acm, sign_configuration_nonces, upgrade_to_acm
from activation.flows.ports import StepOutcome
from activation.plan.activation_plan import ProvisioningCertificate
from activation.protocol.status import ActivationStatus
from rps_site.sensitive import Secret
from tests.activation.flow_fakes import (
    HBS,
    REALM,
    SETUP_AND_CONFIGURATION,
    RecordingProgress,
    RecordingSecrets,
    acm_plan,
    host_based_setup,
    method_output,
    no_pause,
    provisioning_chain,
    session,
)
from tests.activation.scripted_device import NO_ANSWER, Answer, ReceivedRequest, ScriptedDevice, fault, ok

FW_NONCE = bytes(range(100, 120))
AMT_PASSWORD = "Gen3rated!Pass"
MEBX_PASSWORD = "Mebx!Pass1"
FIXTURE_REALM = "Digest:62FFAC181B3F3457C5B3894ED21F3E6E"  # DigestRealm in the GeneralSettings fixture


def lsa_device(*answers: Answer) -> ScriptedDevice:
    return ScriptedDevice(username="$$OsAdmin", password="LsaP@ss", answers=list(answers), realm=REALM)


def parameter(request: ReceivedRequest, name: str) -> str:
    match = re.search(rf"<h:{name}>([^<]*)</h:{name}>", request.body)
    assert match, name
    return match.group(1)


def became_admin(device: ScriptedDevice, answer: bytes, password: str = AMT_PASSWORD) -> Answer:
    """AMT applies the setup: from now on only `admin` with the new password is accepted."""

    def apply(request: ReceivedRequest) -> bytes:
        device.username, device.password = "admin", password
        return answer

    return apply


def chain_answers() -> list[Answer]:
    return [ok("IPS_HostBasedSetupService_AddNextCertInChain.xml")] * 3


async def test_acm_activation_signs_the_nonces_and_stores_secrets_before_admin_setup() -> None:
    secrets = RecordingSecrets()
    device = lsa_device()
    seen_at_admin_setup: list[list[str]] = []

    def admin_setup(request: ReceivedRequest) -> bytes:
        seen_at_admin_setup.append(list(secrets.events))
        return became_admin(device, ok("IPS_HostBasedSetupService_AdminSetup.xml"))(request)

    device.answers = [
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        admin_setup,
        ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"),
    ]
    progress = RecordingProgress()
    amt = session(device)
    result = await activate_acm(amt, acm_plan(), secrets, progress, pause=no_pause)

    assert result.succeeded, result.steps
    assert device.call_names == [
        "AMT_GeneralSettings.Get",
        "IPS_HostBasedSetupService.Get",
        "IPS_HostBasedSetupService.AddNextCertInChain",
        "IPS_HostBasedSetupService.AddNextCertInChain",
        "IPS_HostBasedSetupService.AddNextCertInChain",
        "IPS_HostBasedSetupService.AdminSetup",
        "AMT_SetupAndConfigurationService.SetMEBxPassword",
    ]
    # The secret reached Vault before AdminSetup, with both passwords.
    assert seen_at_admin_setup == [[f"write_initial {AMT_PASSWORD} {MEBX_PASSWORD}"]]
    assert secrets.events == [f"write_initial {AMT_PASSWORD} {MEBX_PASSWORD}", "confirm_initial 2"]

    # The chain went leaf → intermediate → root with the right flags.
    chain = provisioning_chain()
    sent = [r for r in device.received if r.call_name.endswith("AddNextCertInChain") and "authorization" in r.headers]
    assert [base64.b64decode(parameter(r, "NextCertificate")) for r in sent] == list(chain.certificate.chain_der)
    assert [(parameter(r, "IsLeafCertificate"), parameter(r, "IsRootCertificate")) for r in sent] == [
        ("true", "false"),
        ("false", "false"),
        ("false", "true"),
    ]

    # AdminSetup: the MD5 hash of the new password, a fresh 20-byte nonce, SHA-256 over fw ‖ mc.
    admin_setup_request = next(r for r in device.received if r.call_name.endswith("AdminSetup"))
    assert parameter(admin_setup_request, "NetworkAdminPassword") == (
        hashlib.md5(f"admin:{FIXTURE_REALM}:{AMT_PASSWORD}".encode()).hexdigest()
    )
    assert parameter(admin_setup_request, "SigningAlgorithm") == "2"
    mc_nonce = base64.b64decode(parameter(admin_setup_request, "McNonce"))
    signature = base64.b64decode(parameter(admin_setup_request, "DigitalSignature"))
    assert len(mc_nonce) == 20 and mc_nonce != FW_NONCE
    chain.leaf_key.public_key().verify(signature, FW_NONCE + mc_nonce, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        chain.leaf_key.public_key().verify(signature, mc_nonce + FW_NONCE, padding.PKCS1v15(), hashes.SHA256())

    # MEBx goes in its own call, in plain text (§4.4), as admin with the new password.
    mebx_request = next(r for r in device.received if r.call_name.endswith("SetMEBxPassword"))
    assert parameter(mebx_request, "Password") == MEBX_PASSWORD
    assert amt.username == "admin"
    assert progress.texts == ["Activation completed"]
    assert isinstance(result.status, ActivationStatus)
    assert result.status.status == "Activated to admin control mode."
    assert '"Activation":{"Result":"Success","Mode":"ACM","Details":"Activated to admin control mode"}' in (
        result.status.as_json()
    )
    assert AMT_PASSWORD not in repr(result) and MEBX_PASSWORD not in repr(result)


async def test_lost_admin_setup_answer_is_resolved_by_reading_the_mode() -> None:
    device = lsa_device()
    device.answers = [
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        NO_ANSWER,  # AdminSetup applied, its answer lost
        became_admin(device, host_based_setup(2)),
        ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"),
    ]
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert result.succeeded, result.steps
    assert device.call_names.count("IPS_HostBasedSetupService.AdminSetup") == 1
    assert device.call_names[-2:] == [
        "IPS_HostBasedSetupService.Get",
        "AMT_SetupAndConfigurationService.SetMEBxPassword",
    ]
    assert secrets.events == [f"write_initial {AMT_PASSWORD} {MEBX_PASSWORD}", "confirm_initial 2"]
    assert [s.outcome for s in result.steps if s.name == "IPS_HostBasedSetupService.AdminSetup"] == [
        StepOutcome.FAILURE,
        StepOutcome.SUCCESS,
    ]


async def test_lost_admin_setup_answer_and_device_still_unprovisioned_fails_and_forgets() -> None:
    device = lsa_device(
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        NO_ANSWER,
        host_based_setup(0),
    )
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert not result.succeeded
    assert result.status.status == "Failed to activate in admin control mode."
    assert secrets.events[-1] == "forget_initial"


async def test_lost_admin_setup_answer_and_unreadable_mode_keeps_the_secret() -> None:
    device = lsa_device(
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        NO_ANSWER,
        NO_ANSWER,
        NO_ANSWER,
        NO_ANSWER,
    )
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert not result.succeeded
    assert "forget_initial" not in secrets.events


async def test_refused_certificate_stops_before_anything_is_stored() -> None:
    device = lsa_device(
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        method_output(HBS, "AddNextCertInChain", 1),
    )
    secrets = RecordingSecrets()
    plan = acm_plan()
    result = await activate_acm(session(device), plan, secrets, RecordingProgress(), pause=no_pause)
    assert result.status.status == (
        f"Device {plan.device_guid} activation failed. Error while adding the certificates to AMT."
    )
    assert secrets.events == []
    assert "IPS_HostBasedSetupService.AdminSetup" not in device.call_names


async def test_vault_failure_leaves_the_device_unprovisioned() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"), host_based_setup(0, FW_NONCE), *chain_answers())
    result = await activate_acm(
        session(device), acm_plan(), RecordingSecrets(fail={"write_initial"}), RecordingProgress(), pause=no_pause
    )
    assert result.status.status == "Failed to save device information to Secret Provider"
    assert "IPS_HostBasedSetupService.AdminSetup" not in device.call_names


async def test_refused_admin_setup_forgets_the_unused_passwords() -> None:
    device = lsa_device(
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        method_output(HBS, "AdminSetup", 2063),
    )
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert result.status.status == "Failed to activate in admin control mode."
    assert secrets.events == [f"write_initial {AMT_PASSWORD} {MEBX_PASSWORD}", "forget_initial"]
    assert result.steps[-1].cause == "ReturnValue 2063"


async def test_soap_fault_on_admin_setup_forgets_the_unused_passwords() -> None:
    device = lsa_device(
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        fault("SOAPFault_DestinationUnreachable.xml"),
    )
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert result.status.status == "Failed to activate in admin control mode."
    # A fault is a definite refusal (unlike a lost answer): the stored passwords were never used.
    assert secrets.events == [f"write_initial {AMT_PASSWORD} {MEBX_PASSWORD}", "forget_initial"]
    assert device.call_names.count("IPS_HostBasedSetupService.AdminSetup") == 1
    assert "DestinationUnreachable" in result.steps[-1].cause


async def test_device_already_in_acm_gets_the_profile_password_by_rotation() -> None:
    device = lsa_device(ok("AMT_GeneralSettings_Get_AMT15_rps.xml"), host_based_setup(2))
    device.answers.append(became_admin(device, ok("AMT_AuthorizationService_SetAdminAclEntryEx.xml")))
    device.answers.append(ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"))
    secrets = RecordingSecrets()
    result = await activate_acm(session(device), acm_plan(), secrets, RecordingProgress(), pause=no_pause)
    assert result.succeeded, result.steps
    assert "IPS_HostBasedSetupService.AdminSetup" not in device.call_names
    assert secrets.events == [
        f"write_pending {AMT_PASSWORD}",
        "promote_pending",
        f"write_mebx_password {MEBX_PASSWORD}",
    ]


async def test_failed_mebx_call_is_recorded_but_activation_stands() -> None:
    device = lsa_device()
    device.answers = [
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(0, FW_NONCE),
        *chain_answers(),
        became_admin(device, ok("IPS_HostBasedSetupService_AdminSetup.xml")),
        method_output(SETUP_AND_CONFIGURATION, "SetMEBxPassword", 16),
    ]
    result = await activate_acm(session(device), acm_plan(), RecordingSecrets(), RecordingProgress(), pause=no_pause)
    assert result.succeeded
    assert result.steps[-1].outcome is StepOutcome.FAILURE
    assert result.steps[-1].cause == "ReturnValue PT_STATUS_NOT_PERMITTED"


# --- CCM → ACM upgrade ---------------------------------------------------------------------------


def admin_device(password: str, *answers: Answer) -> ScriptedDevice:
    return ScriptedDevice(username="admin", password=password, answers=list(answers), realm=REALM)


async def test_upgrade_signs_sends_once_then_rotates_and_sets_mebx() -> None:
    device = admin_device("OldCcm!Pass1")
    device.answers = [
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(1, FW_NONCE),
        *chain_answers(),
        ok("IPS_HostBasedSetupService_UpgradeClientToAdmin.xml"),
        became_admin(device, ok("AMT_AuthorizationService_SetAdminAclEntryEx.xml")),
        ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"),
    ]
    secrets = RecordingSecrets()
    progress = RecordingProgress()
    amt = session(device, username="$$OsAdmin", password="ignored")
    result = await upgrade_to_acm(
        amt, acm_plan(current_mode=1), secrets, progress, current_password=Secret("OldCcm!Pass1"), pause=no_pause
    )
    assert result.succeeded, result.steps
    assert result.status.status == "Upgraded to admin control mode."
    upgrade = next(r for r in device.received if r.call_name.endswith("UpgradeClientToAdmin"))
    mc_nonce = base64.b64decode(parameter(upgrade, "McNonce"))
    signature = base64.b64decode(parameter(upgrade, "DigitalSignature"))
    provisioning_chain().leaf_key.public_key().verify(
        signature, FW_NONCE + mc_nonce, padding.PKCS1v15(), hashes.SHA256()
    )
    assert secrets.events == [
        f"write_pending {AMT_PASSWORD}",
        "promote_pending",
        f"write_mebx_password {MEBX_PASSWORD}",
    ]
    assert progress.texts == ["Device already activated", "Activation completed"]
    assert amt.username == "admin"


async def test_lost_upgrade_answer_is_never_resent() -> None:
    device = admin_device(
        AMT_PASSWORD,
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(1, FW_NONCE),
        *chain_answers(),
        NO_ANSWER,
        host_based_setup(1),
    )
    result = await upgrade_to_acm(
        session(device),
        acm_plan(current_mode=1),
        RecordingSecrets(),
        RecordingProgress(),
        current_password=Secret(AMT_PASSWORD),
        pause=no_pause,
    )
    assert not result.succeeded and result.status.status == "Failed to upgrade to admin control mode."
    assert device.call_names.count("IPS_HostBasedSetupService.UpgradeClientToAdmin") == 1


async def test_upgrade_with_unchanged_password_skips_rotation() -> None:
    device = admin_device(
        AMT_PASSWORD,
        ok("AMT_GeneralSettings_Get_AMT15_rps.xml"),
        host_based_setup(1, FW_NONCE),
        *chain_answers(),
        ok("IPS_HostBasedSetupService_UpgradeClientToAdmin.xml"),
        ok("AMT_SetupAndConfigurationService_SetMEBxPassword.xml"),
    )
    secrets = RecordingSecrets()
    result = await upgrade_to_acm(
        session(device),
        acm_plan(current_mode=1),
        secrets,
        RecordingProgress(),
        current_password=Secret(AMT_PASSWORD),
        pause=no_pause,
    )
    assert result.succeeded
    assert "AMT_AuthorizationService.SetAdminAclEntryEx" not in device.call_names
    assert secrets.events == [f"write_mebx_password {MEBX_PASSWORD}"]


# --- signing -------------------------------------------------------------------------------------


def test_signing_refuses_a_key_that_is_not_the_leafs() -> None:
    chain = provisioning_chain()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ProvisioningKeyUnusable, match="does not belong"):
        sign_configuration_nonces(ProvisioningCertificate(chain.certificate.chain_der, Secret(pem)), FW_NONCE, FW_NONCE)
    with pytest.raises(ProvisioningKeyUnusable, match="not an unencrypted PEM") as refused:
        sign_configuration_nonces(ProvisioningCertificate(chain.certificate.chain_der, Secret("junk")), b"", b"")
    assert "junk" not in str(refused.value)
