"""Activation and deactivation: IPS_HostBasedSetupService and AMT_SetupAndConfigurationService.

CCM ``Setup`` takes the new admin password as md5("admin:<realm>:<password>"), which is
all the firmware ever learns of it and exactly the HA1 that digest auth needs afterwards.
ACM collects the provisioning chain leaf→root through ``AddNextCertInChain`` and then checks
``AdminSetup``'s RSA signature over firmware nonce ‖ client nonce (protocol.md §4.2).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from amtsim.device.services import SERVICE_TABLE, ReturnCode
from amtsim.device.state import ControlMode
from amtsim.device.wsman import WsmanReply, WsmanRequest, instance_reply, method_reply
from amtsim.pki import AMT_PROVISIONING_OID, CLIENT_SETUP_OU

if TYPE_CHECKING:
    from amtsim.device.device import VirtualAmtDevice

HOST_BASED_SETUP = "IPS_HostBasedSetupService"
SETUP_AND_CONFIGURATION = "AMT_SetupAndConfigurationService"
_PASSWORD_HASH = re.compile(r"^[0-9a-fA-F]{32}$")
_SIGNATURE_HASHES: dict[str, hashes.HashAlgorithm] = {"2": hashes.SHA256(), "3": hashes.SHA384()}


class SetupRefused(Exception):  # noqa: N818 - carries the firmware's answer
    def __init__(self, return_code: int, reason: str):
        super().__init__(reason)
        self.return_code = return_code
        self.reason = reason


def _refuse(device: VirtualAmtDevice, request: WsmanRequest, error: SetupRefused) -> WsmanReply:
    device.state.setup_errors.append(f"{request.operation}: {error.reason}")
    return method_reply(request, error.return_code)


# -- IPS_HostBasedSetupService ------------------------------------------------------------


@SERVICE_TABLE.register(HOST_BASED_SETUP, "Get", before_activation=True)
def get_host_based_setup(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    # Every Get hands out a fresh nonce; the one AdminSetup is checked against is the last.
    state.configuration_nonce = secrets.token_bytes(20)
    chain_status = 2 if state.chain_complete else (1 if state.pending_chain else 0)
    return instance_reply(
        request,
        HOST_BASED_SETUP,
        {
            "AllowedControlModes": ["2", "1"],
            "CertChainStatus": [str(chain_status)],
            "ConfigurationNonce": [base64.b64encode(state.configuration_nonce).decode()],
            "CreationClassName": [HOST_BASED_SETUP],
            "CurrentControlMode": [str(int(state.control_mode))],
            "ElementName": ["Intel(r) AMT Host Based Setup Service"],
            "Name": ["Intel(r) AMT Host Based Setup Service"],
            "SystemCreationClassName": ["CIM_ComputerSystem"],
            "SystemName": ["Intel(r) AMT"],
        },
    )


def _new_admin_password_hash(request: WsmanRequest) -> str:
    if request.body_text("NetAdminPassEncryptionType") != "2":
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, "NetAdminPassEncryptionType must be 2 (HTTP-MD5)")
    password_hash = (request.body_text("NetworkAdminPassword") or "").strip()
    if not _PASSWORD_HASH.match(password_hash):
        raise SetupRefused(
            ReturnCode.INVALID_PARAMETER, "NetworkAdminPassword must be the 32-hex md5 of admin:<realm>:<password>"
        )
    return password_hash.lower()


@SERVICE_TABLE.register(HOST_BASED_SETUP, "Setup", before_activation=True)
def setup(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    try:
        if state.is_provisioned:
            raise SetupRefused(ReturnCode.INVALID_PT_MODE, "device is already activated")
        password_hash = _new_admin_password_hash(request)
    except SetupRefused as error:
        return _refuse(device, request, error)
    state.admin_password_ha1 = password_hash
    state.control_mode = ControlMode.CCM
    return method_reply(request, ReturnCode.SUCCESS)


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _is_provisioning_leaf(certificate: x509.Certificate) -> bool:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if x509.ObjectIdentifier(AMT_PROVISIONING_OID) in list(usages):
            return True
    except x509.ExtensionNotFound:
        pass
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    return any(str(unit.value) == CLIENT_SETUP_OU for unit in units)


def cn_under_suffix(common_name: str, dns_suffix: str) -> bool:
    """The leaf's CN must be the device's DNS suffix or a name under it."""
    name = common_name.lower().rstrip(".").removeprefix("*.")
    suffix = dns_suffix.lower().strip().rstrip(".")
    return bool(suffix) and (name == suffix or name.endswith("." + suffix))


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def root_fingerprints(der: bytes) -> set[str]:
    return {
        hashlib.sha1(der).hexdigest(),  # noqa: S324 - AMT lists SHA-1 hashes of old roots
        hashlib.sha256(der).hexdigest(),
        hashlib.sha384(der).hexdigest(),
    }


def _check_validity(certificate: x509.Certificate) -> None:
    now = datetime.now(UTC)
    if certificate.not_valid_before_utc > now or certificate.not_valid_after_utc < now:
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, f"certificate {_common_name(certificate)!r} is not valid now")


@SERVICE_TABLE.register(HOST_BASED_SETUP, "AddNextCertInChain", before_activation=True)
def add_next_cert_in_chain(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    is_leaf = (request.body_text("IsLeafCertificate") or "").lower() == "true"
    is_root = (request.body_text("IsRootCertificate") or "").lower() == "true"
    try:
        if state.control_mode is ControlMode.ACM:
            raise SetupRefused(ReturnCode.INVALID_PT_MODE, "device is already in admin control mode")
        try:
            der = base64.b64decode(request.body_text("NextCertificate") or "", validate=True)
            certificate = x509.load_der_x509_certificate(der)
        except (ValueError, binascii.Error) as error:
            raise SetupRefused(
                ReturnCode.INVALID_PARAMETER, f"NextCertificate is not a DER certificate: {error}"
            ) from error
        if is_leaf:
            state.pending_chain = []
            state.chain_complete = False
        elif not state.pending_chain:
            raise SetupRefused(ReturnCode.NOT_PERMITTED, "the first certificate must be the leaf")
        _check_validity(certificate)
        if is_leaf:
            if not _is_provisioning_leaf(certificate):
                raise SetupRefused(
                    ReturnCode.INVALID_PARAMETER,
                    f"leaf lacks the AMT provisioning OID {AMT_PROVISIONING_OID} and the {CLIENT_SETUP_OU!r} OU",
                )
            if not cn_under_suffix(_common_name(certificate), state.identity.dns_suffix):
                raise SetupRefused(
                    ReturnCode.INVALID_PARAMETER,
                    f"leaf CN {_common_name(certificate)!r} is not under DNS suffix {state.identity.dns_suffix!r}",
                )
        else:
            previous = x509.load_der_x509_certificate(state.pending_chain[-1])
            if not _signed_by(previous, certificate):
                raise SetupRefused(
                    ReturnCode.INVALID_PARAMETER, "certificate does not sign the previous one in the chain"
                )
        if is_root:
            if certificate.issuer != certificate.subject or not _signed_by(certificate, certificate):
                raise SetupRefused(ReturnCode.INVALID_PARAMETER, "root certificate is not self-signed")
            trusted = {value.lower() for value in state.identity.trusted_root_hashes}
            if not root_fingerprints(der) & trusted:
                raise SetupRefused(ReturnCode.INVALID_PARAMETER, "root certificate hash is not in the trusted list")
    except SetupRefused as error:
        state.pending_chain = []
        state.chain_complete = False
        return _refuse(device, request, error)
    state.pending_chain.append(der)
    state.chain_complete = is_root
    return method_reply(request, ReturnCode.SUCCESS)


def _verify_signed_nonces(device: VirtualAmtDevice, request: WsmanRequest) -> None:
    """The ACM proof of possession shared by AdminSetup and UpgradeClientToAdmin."""
    state = device.state
    firmware_nonce = state.configuration_nonce
    # A firmware nonce is good for one attempt, successful or not.
    state.configuration_nonce = None
    if not state.chain_complete:
        raise SetupRefused(ReturnCode.NOT_PERMITTED, "no complete, trusted certificate chain was added")
    if firmware_nonce is None:
        raise SetupRefused(ReturnCode.NOT_PERMITTED, "no configuration nonce outstanding (Get it first)")
    try:
        client_nonce = base64.b64decode(request.body_text("McNonce") or "", validate=True)
        signature = base64.b64decode(request.body_text("DigitalSignature") or "", validate=True)
    except (ValueError, binascii.Error) as error:
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, "McNonce and DigitalSignature must be base64") from error
    if len(client_nonce) != 20:
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, "McNonce must be 20 bytes")
    if client_nonce in state.used_client_nonces:
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, "McNonce was used before")
    state.used_client_nonces.add(client_nonce)
    algorithm = _SIGNATURE_HASHES.get(request.body_text("SigningAlgorithm") or "")
    if algorithm is None:
        raise SetupRefused(ReturnCode.INVALID_PARAMETER, "SigningAlgorithm must be 2 (RSA-SHA256) or 3 (RSA-SHA384)")
    leaf = x509.load_der_x509_certificate(state.pending_chain[0])
    public_key = leaf.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, firmware_nonce + client_nonce, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, firmware_nonce + client_nonce, ec.ECDSA(algorithm))
        else:
            raise SetupRefused(ReturnCode.INVALID_PARAMETER, "unsupported leaf key type")
    except InvalidSignature as error:
        raise SetupRefused(
            ReturnCode.INVALID_PARAMETER, "signature over firmware nonce + McNonce does not verify with the leaf key"
        ) from error


@SERVICE_TABLE.register(HOST_BASED_SETUP, "AdminSetup", before_activation=True)
def admin_setup(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    try:
        if state.is_provisioned:
            raise SetupRefused(ReturnCode.INVALID_PT_MODE, "device is already activated")
        if state.identity.enforces_tls:
            # AMT 19+ cannot do AdminSetup while TLS is enforced: Setup, then UpgradeClientToAdmin (§5.5).
            raise SetupRefused(ReturnCode.NOT_PERMITTED, "AdminSetup is not available on a TLS-enforced device")
        password_hash = _new_admin_password_hash(request)
        _verify_signed_nonces(device, request)
    except SetupRefused as error:
        return _refuse(device, request, error)
    state.admin_password_ha1 = password_hash
    state.control_mode = ControlMode.ACM
    state.activated_by_chain = list(state.pending_chain)
    state.pending_chain = []
    state.chain_complete = False
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register(HOST_BASED_SETUP, "UpgradeClientToAdmin")
def upgrade_client_to_admin(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    state = device.state
    try:
        if state.control_mode is not ControlMode.CCM:
            raise SetupRefused(ReturnCode.INVALID_PT_MODE, "only a device in client control mode can be upgraded")
        _verify_signed_nonces(device, request)
    except SetupRefused as error:
        return _refuse(device, request, error)
    state.control_mode = ControlMode.ACM
    state.activated_by_chain = list(state.pending_chain)
    state.pending_chain = []
    state.chain_complete = False
    return method_reply(request, ReturnCode.SUCCESS)


# -- AMT_SetupAndConfigurationService ------------------------------------------------------


@SERVICE_TABLE.register(SETUP_AND_CONFIGURATION, "Get", before_activation=True)
def get_setup_and_configuration(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    provisioning_state = "2" if device.state.is_provisioned else "0"
    return instance_reply(
        request,
        SETUP_AND_CONFIGURATION,
        {
            "CreationClassName": [SETUP_AND_CONFIGURATION],
            "ElementName": ["Intel(r) AMT Setup and Configuration Service"],
            "EnabledState": ["5"],
            "Name": ["Intel(r) AMT Setup and Configuration Service"],
            "PasswordModel": ["1"],
            "ProvisioningMode": ["1"],
            "ProvisioningServerOTP": [""],
            "ProvisioningState": [provisioning_state],
            "RequestedState": ["12"],
            "SystemCreationClassName": ["CIM_ComputerSystem"],
            "SystemName": ["Intel(r) AMT"],
            "ZeroTouchConfigurationEnabled": ["true"],
        },
    )


@SERVICE_TABLE.register(SETUP_AND_CONFIGURATION, "Unprovision")
def unprovision(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if request.body_text("ProvisioningMode") not in ("1", None):
        return _refuse(device, request, SetupRefused(ReturnCode.INVALID_PARAMETER, "ProvisioningMode must be 1"))
    device.state.unprovision_count += 1
    device.return_to_pre_provisioning()
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register(SETUP_AND_CONFIGURATION, "CommitChanges")
def commit_changes(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    device.state.commits += 1
    device.state.tls_committed = device.state.tls_enabled
    device.on_tls_configuration_changed()
    return method_reply(request, ReturnCode.SUCCESS)


@SERVICE_TABLE.register(SETUP_AND_CONFIGURATION, "SetMEBxPassword")
def set_mebx_password(device: VirtualAmtDevice, request: WsmanRequest) -> WsmanReply:
    if device.state.control_mode is not ControlMode.ACM:
        return _refuse(
            device, request, SetupRefused(ReturnCode.NOT_PERMITTED, "the MEBx password can be set in ACM only")
        )
    password = request.body_text("Password") or ""
    if not password:
        return _refuse(device, request, SetupRefused(ReturnCode.INVALID_PARAMETER, "Password is empty"))
    device.state.mebx_password = password
    return method_reply(request, ReturnCode.SUCCESS)
