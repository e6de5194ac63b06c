"""Activation, deactivation and admin-password calls (protocol.md §4.1-4.4, §4.11, §4.12).

AMT_GeneralSettings, IPS_HostBasedSetupService, AMT_SetupAndConfigurationService,
AMT_AuthorizationService, and the two AMT password encodings of §3.3.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Final

from activation.wsman.call import MethodResult, WsmanCall, method_call
from activation.wsman.envelope import (
    CimObject,
    amt_resource,
    get_request,
    ips_resource,
    method_request,
    put_request,
    wsman_bool,
)
from activation.wsman.response import (
    SoapEnvelope,
    cim_object,
    parse_base64,
    parse_bool,
    parse_int,
    parse_optional_int,
)
from rps_site.sensitive import Secret

GENERAL_SETTINGS: Final = amt_resource("AMT_GeneralSettings")
HOST_BASED_SETUP_SERVICE: Final = ips_resource("IPS_HostBasedSetupService")
SETUP_AND_CONFIGURATION_SERVICE: Final = amt_resource("AMT_SetupAndConfigurationService")
AUTHORIZATION_SERVICE: Final = amt_resource("AMT_AuthorizationService")

ADMIN_USERNAME: Final = "admin"
DIGEST_REALM_PATTERN: Final = re.compile(r"^Digest:[0-9A-Fa-f]{32}$")
HTTP_MD5_ENCRYPTION: Final = "2"  # NetAdminPassEncryptionType
RSA_SHA256_SIGNING: Final = "2"  # SigningAlgorithm; AMT does not support SHA-384 here
COMMIT_CHANGES_TIMEOUT: Final = 15.0  # delay_tls_timer (§3.6)


# ---------------------------------------------------------------------------------------------
# Password encodings (§3.3)
# ---------------------------------------------------------------------------------------------


def _admin_digest(realm: str, password: Secret) -> bytes:
    # MD5 is what AMT's HTTP digest defines; this is not a choice of hash.
    return hashlib.md5(f"{ADMIN_USERNAME}:{realm}:{password.reveal()}".encode()).digest()  # noqa: S324


def admin_password_hash(realm: str, password: Secret) -> Secret:
    """`NetworkAdminPassword` of Setup/AdminSetup: 32 lowercase hex of MD5("admin:realm:pw")."""
    return Secret(_admin_digest(realm, password).hex())


def admin_digest_password(realm: str, password: Secret) -> Secret:
    """`DigestPassword` of SetAdminAclEntryEx: base64 of the same 16 raw MD5 bytes."""
    return Secret(base64.b64encode(_admin_digest(realm, password)).decode("ascii"))


# ---------------------------------------------------------------------------------------------
# AMT_GeneralSettings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneralSettings:
    digest_realm: str
    host_name: str
    domain_name: str
    shared_fqdn: bool
    amt_network_enabled: int | None
    rmcp_ping_response_enabled: bool
    instance: CimObject = field(repr=False)

    @property
    def has_valid_digest_realm(self) -> bool:
        """§4.1 step 3: otherwise the flow fails with `Not a valid digest realm.`"""
        return bool(DIGEST_REALM_PATTERN.match(self.digest_realm))

    @property
    def network_ready(self) -> bool:
        """§4.7.1: no Put is needed when all three are already set."""
        return self.shared_fqdn and self.amt_network_enabled == 1 and self.rmcp_ping_response_enabled


def _general_settings(instance: CimObject) -> GeneralSettings:
    return GeneralSettings(
        digest_realm=instance.value("DigestRealm") or "",
        host_name=instance.value("HostName") or "",
        domain_name=instance.value("DomainName") or "",
        shared_fqdn=parse_bool(instance.value("SharedFQDN"), "SharedFQDN"),
        amt_network_enabled=parse_optional_int(instance.value("AMTNetworkEnabled"), "AMTNetworkEnabled"),
        rmcp_ping_response_enabled=parse_bool(instance.value("RmcpPingResponseEnabled"), "RmcpPingResponseEnabled"),
        instance=instance,
    )


def _read_general_settings(envelope: SoapEnvelope) -> GeneralSettings:
    return _general_settings(cim_object(envelope.body_element("AMT_GeneralSettings")))


def get_general_settings() -> WsmanCall[GeneralSettings]:
    return WsmanCall("AMT_GeneralSettings.Get", get_request(GENERAL_SETTINGS), _read_general_settings)


def put_general_settings(
    settings: GeneralSettings,
    *,
    shared_fqdn: bool | None = None,
    amt_network_enabled: int | None = None,
    rmcp_ping_response_enabled: bool | None = None,
    host_name: str | None = None,
) -> WsmanCall[GeneralSettings]:
    """Put the object read before, with the given properties changed (no header selector)."""
    changes: dict[str, str | None] = {}
    if shared_fqdn is not None:
        changes["SharedFQDN"] = wsman_bool(shared_fqdn)
    if amt_network_enabled is not None:
        changes["AMTNetworkEnabled"] = str(amt_network_enabled)
    if rmcp_ping_response_enabled is not None:
        changes["RmcpPingResponseEnabled"] = wsman_bool(rmcp_ping_response_enabled)
    if host_name is not None:
        changes["HostName"] = host_name
    instance = settings.instance.with_values(changes)  # type: ignore[arg-type]
    return WsmanCall("AMT_GeneralSettings.Put", put_request(instance), _read_general_settings)


# ---------------------------------------------------------------------------------------------
# IPS_HostBasedSetupService
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostBasedSetupState:
    current_control_mode: int  # 0 none, 1 client (CCM), 2 admin (ACM)
    allowed_control_modes: tuple[int, ...]
    configuration_nonce: bytes  # fwNonce, 20 bytes: signed with the McNonce for AdminSetup
    cert_chain_status: int | None


def _read_host_based_setup(envelope: SoapEnvelope) -> HostBasedSetupState:
    node = envelope.body_element("IPS_HostBasedSetupService")
    nonce_text = node.text_of("ConfigurationNonce")
    return HostBasedSetupState(
        current_control_mode=parse_int(node.text_of("CurrentControlMode"), "CurrentControlMode"),
        allowed_control_modes=tuple(
            parse_int(child.text, "AllowedControlModes") for child in node.all("AllowedControlModes")
        ),
        configuration_nonce=parse_base64(nonce_text, "ConfigurationNonce") if nonce_text else b"",
        cert_chain_status=parse_optional_int(node.text_of("CertChainStatus"), "CertChainStatus"),
    )


def get_host_based_setup() -> WsmanCall[HostBasedSetupState]:
    return WsmanCall("IPS_HostBasedSetupService.Get", get_request(HOST_BASED_SETUP_SERVICE), _read_host_based_setup)


def setup(password_hash: Secret) -> WsmanCall[MethodResult]:
    """CCM activation (§4.1 step 5). Never resent (correction 2): after a timeout read the mode."""
    request = method_request(
        HOST_BASED_SETUP_SERVICE,
        "Setup",
        [("NetAdminPassEncryptionType", HTTP_MD5_ENCRYPTION), ("NetworkAdminPassword", password_hash.reveal())],
    )
    return method_call("IPS_HostBasedSetupService.Setup", request, "Setup", non_idempotent=True)


def admin_setup(password_hash: Secret, *, mc_nonce: bytes, signature: bytes) -> WsmanCall[MethodResult]:
    """ACM activation (§4.2 step 7); `signature` = RSA-SHA256 over fwNonce ‖ mcNonce. One-shot."""
    request = method_request(
        HOST_BASED_SETUP_SERVICE,
        "AdminSetup",
        [
            ("NetAdminPassEncryptionType", HTTP_MD5_ENCRYPTION),
            ("NetworkAdminPassword", password_hash.reveal()),
            ("McNonce", base64.b64encode(mc_nonce).decode("ascii")),
            ("SigningAlgorithm", RSA_SHA256_SIGNING),
            ("DigitalSignature", base64.b64encode(signature).decode("ascii")),
        ],
    )
    return method_call("IPS_HostBasedSetupService.AdminSetup", request, "AdminSetup", non_idempotent=True)


def upgrade_client_to_admin(*, mc_nonce: bytes, signature: bytes) -> WsmanCall[MethodResult]:
    """CCM → ACM (§4.3 step 7). One-shot."""
    request = method_request(
        HOST_BASED_SETUP_SERVICE,
        "UpgradeClientToAdmin",
        [
            ("McNonce", base64.b64encode(mc_nonce).decode("ascii")),
            ("SigningAlgorithm", RSA_SHA256_SIGNING),
            ("DigitalSignature", base64.b64encode(signature).decode("ascii")),
        ],
    )
    return method_call(
        "IPS_HostBasedSetupService.UpgradeClientToAdmin", request, "UpgradeClientToAdmin", non_idempotent=True
    )


def add_next_cert_in_chain(certificate_der: bytes, *, is_leaf: bool, is_root: bool) -> WsmanCall[MethodResult]:
    """One provisioning chain certificate, leaf first, root last (§4.2 step 6)."""
    request = method_request(
        HOST_BASED_SETUP_SERVICE,
        "AddNextCertInChain",
        [
            ("NextCertificate", base64.b64encode(certificate_der).decode("ascii")),
            ("IsLeafCertificate", wsman_bool(is_leaf)),
            ("IsRootCertificate", wsman_bool(is_root)),
        ],
    )
    return method_call("IPS_HostBasedSetupService.AddNextCertInChain", request, "AddNextCertInChain")


# ---------------------------------------------------------------------------------------------
# AMT_SetupAndConfigurationService
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupAndConfigurationState:
    provisioning_mode: int | None
    provisioning_state: int | None


def _read_setup_and_configuration(envelope: SoapEnvelope) -> SetupAndConfigurationState:
    node = envelope.body_element("AMT_SetupAndConfigurationService")
    return SetupAndConfigurationState(
        provisioning_mode=parse_optional_int(node.text_of("ProvisioningMode"), "ProvisioningMode"),
        provisioning_state=parse_optional_int(node.text_of("ProvisioningState"), "ProvisioningState"),
    )


def get_setup_and_configuration() -> WsmanCall[SetupAndConfigurationState]:
    return WsmanCall(
        "AMT_SetupAndConfigurationService.Get",
        get_request(SETUP_AND_CONFIGURATION_SERVICE),
        _read_setup_and_configuration,
    )


def unprovision(provisioning_mode: int = 1) -> WsmanCall[MethodResult]:
    """Deactivation (§4.11). Correction 13: the caller must require ReturnValue 0. Sent once, like
    Setup: a resend after an applied Unprovision is refused (the admin account is gone) and
    would hide that the first one worked."""
    request = method_request(
        SETUP_AND_CONFIGURATION_SERVICE, "Unprovision", [("ProvisioningMode", str(provisioning_mode))]
    )
    return method_call("AMT_SetupAndConfigurationService.Unprovision", request, "Unprovision", non_idempotent=True)


def commit_changes() -> WsmanCall[MethodResult]:
    request = method_request(SETUP_AND_CONFIGURATION_SERVICE, "CommitChanges")
    return method_call(
        "AMT_SetupAndConfigurationService.CommitChanges", request, "CommitChanges", timeout=COMMIT_CHANGES_TIMEOUT
    )


def set_mebx_password(password: Secret) -> WsmanCall[MethodResult]:
    """§4.4: the MEBx password in plain text (AMT's interface; the channel is the local LMS link)."""
    request = method_request(SETUP_AND_CONFIGURATION_SERVICE, "SetMEBxPassword", [("Password", password.reveal())])
    return method_call("AMT_SetupAndConfigurationService.SetMEBxPassword", request, "SetMEBxPassword")


# ---------------------------------------------------------------------------------------------
# AMT_AuthorizationService
# ---------------------------------------------------------------------------------------------


def set_admin_acl_entry_ex(realm: str, new_password: Secret) -> WsmanCall[MethodResult]:
    """Change the `admin` password (§4.3 step 8, §4.12 changepassword)."""
    request = method_request(
        AUTHORIZATION_SERVICE,
        "SetAdminAclEntryEx",
        [("Username", ADMIN_USERNAME), ("DigestPassword", admin_digest_password(realm, new_password).reveal())],
    )
    return method_call("AMT_AuthorizationService.SetAdminAclEntryEx", request, "SetAdminAclEntryEx")
