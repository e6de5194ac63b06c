"""AMT's side of an Enterprise Assistant request (spec/enterprise-assistant.md §4.2 W2-W10, §5.2
F1-F9, §6.1 T3-T10): the account or certificate the EA gives for one device, installed in AMT.

Shared by wired and Wi-Fi 802.1X (`enterprise_8021x`) and TLS signed by a Microsoft CA
(`enterprise_tls`). Each step fails with upstream's text for it (802.1X adds " in 802.1x") and
the named cause; the private key never leaves AMT, and nothing the EA returns is stored (§7): the
PEAP password stays a `Secret` on its way to the device.

Upstream misbehaviour decided here (§9):
- B9: every ReturnValue is checked; a missing handle fails the step instead of becoming the
  literal `undefined` in a later selector.
- B11: GenerateKeyPair is a one-shot call (`certificates.generate_key_pair`): a retry after a
  slow answer would leave a second key pair in AMT.
- Q4/§5.3: a root AMT already holds is reused (found by its DER), never added twice, whichever
  step installed it (upstream reuses it only after wired EAP-TLS).
- B10: a 401 between the EA's round trips refreshes the digest challenge and is retried, as for
  every call (`AmtSession.call`).
- B15 left as upstream: deactivation neither removes the AD account nor revokes the certificate.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from activation.enterprise_assistant import (
    EAP_TLS,
    EnterpriseAssistantExchange,
    EnterpriseAssistantFailure,
    EnterpriseAssistantReplyMalformed,
    IssuedCertificate,
    PeapAccount,
)
from activation.flows.components import ComponentFailed, cause_of
from activation.session import AmtSession
from activation.session_errors import CALL_ERRORS
from activation.wsman import certificates

INITIATE_FAILED = "Failed to initiate cert request with enterprise assistant"
GENERATE_FAILED = "Failed to generate key pair"
ENUMERATE_FAILED = "Failed to enumerate public private key pair"
SEND_KEY_FAILED = "Failed to send key pair to enterprise assistant"
SIGN_FAILED = "Failed to have AMT sign CSR"
GET_CERTIFICATE_FAILED = "Failed to get cert from Microsoft CA"
ADD_CERTIFICATE_FAILED = "Failed to add certificate"
ADD_ROOT_FAILED = "Failed to add radius server root certificate"
IN_8021X = " in 802.1x"


@dataclass(frozen=True)
class EnterpriseAssistantScope:
    """Whose EA to ask (the device's tenant) and the name the EA gives the AD account (§2.1
    `devname`: the hostname the client reported)."""

    tenant_id: str
    device_name: str

    def exchange(self) -> EnterpriseAssistantExchange:
        """A fresh exchange per request (its own nodeid): a late reply to an earlier one, or to
        another Wi-Fi profile's, cannot answer it (B3)."""
        return EnterpriseAssistantExchange(tenant_id=self.tenant_id, device_name=self.device_name or None)


@dataclass(frozen=True)
class CertificateOnDevice:
    """A certificate the Microsoft CA issued for a key AMT generated, added to AMT."""

    issued: IssuedCertificate
    handle: str  # its AMT_PublicKeyCertificate InstanceID


def describe(certificate: x509.Certificate) -> str:
    """What was issued, for the component details and the run history: never a key."""
    expires = certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    return f"subject {certificate.subject.rfc4514_string()}, serial {certificate.serial_number:x}, expires {expires}"


async def request_account(exchange: EnterpriseAssistantExchange, protocol: int, suffix: str) -> PeapAccount | None:
    """§2.2: PEAP gets its AD account here; EAP-TLS and TLS get nothing yet (a key pair comes next).
    B6: a PEAP reply without its account fails this step with a terminal message, never the session."""
    try:
        reply = await exchange.request_profile(auth_protocol=protocol)
    except EnterpriseAssistantReplyMalformed as failure:
        # Upstream stumbles over the missing account when it adds the root (S15, S16).
        raise ComponentFailed(ADD_ROOT_FAILED + suffix, failure.cause) from None
    except EnterpriseAssistantFailure as failure:
        raise ComponentFailed(INITIATE_FAILED + suffix, failure.cause) from None
    return reply.account


async def certificate_for_amt_key(
    amt: AmtSession, exchange: EnterpriseAssistantExchange, suffix: str
) -> CertificateOnDevice:
    """W3-W9: AMT generates a key pair, the EA turns its public key into a CSR template, AMT signs
    it, the Microsoft CA issues the certificate, AMT stores it. `request_account` came first."""
    key_instance_id, der_key = await _generate_key_pair(amt, suffix)
    try:
        template = await exchange.send_key_pair(der_key=der_key, key_instance_id=key_instance_id)
    except EnterpriseAssistantReplyMalformed as failure:
        raise ComponentFailed(SIGN_FAILED + suffix, failure.cause) from None  # upstream's text for S10/S11
    except EnterpriseAssistantFailure as failure:
        raise ComponentFailed(SEND_KEY_FAILED + suffix, failure.cause) from None
    except ValueError as error:  # AMT's DERKey is not an RSA public key
        raise ComponentFailed(SEND_KEY_FAILED + suffix, str(error)) from None
    try:
        signed = await amt.call(
            certificates.generate_pkcs10_request_ex(
                key_pair_instance_id=template.key_instance_id, null_signed_request=template.null_signed_request
            )
        )
    except CALL_ERRORS as error:
        raise ComponentFailed(SIGN_FAILED + suffix, cause_of(error)) from None
    if signed.return_value != 0 or not signed.signed_certificate_request:
        raise ComponentFailed(SIGN_FAILED + suffix, f"ReturnValue {signed.return_value}")
    try:
        issued = await exchange.send_csr_response(signed_csr=signed.signed_certificate_request)
    except EnterpriseAssistantReplyMalformed as failure:
        # Upstream fails where it uses the missing part (S12, S13).
        text = ADD_ROOT_FAILED if "rootcert" in failure.cause else ADD_CERTIFICATE_FAILED
        raise ComponentFailed(text + suffix, failure.cause) from None
    except EnterpriseAssistantFailure as failure:
        raise ComponentFailed(GET_CERTIFICATE_FAILED + suffix, failure.cause) from None
    try:
        added = await amt.call(certificates.add_certificate(_der(issued.certificate)))
    except CALL_ERRORS as error:
        raise ComponentFailed(ADD_CERTIFICATE_FAILED + suffix, cause_of(error)) from None
    if not added.succeeded or not added.instance_id:
        raise ComponentFailed(ADD_CERTIFICATE_FAILED + suffix, f"ReturnValue {added.return_value}")
    return CertificateOnDevice(issued, added.instance_id)


async def _generate_key_pair(amt: AmtSession, suffix: str) -> tuple[str, str]:
    """W3-W5: the new key pair's InstanceID and its DERKey (base64 PKCS#1)."""
    try:
        generated = await amt.call(certificates.generate_key_pair())
    except CALL_ERRORS as error:
        raise ComponentFailed(GENERATE_FAILED + suffix, cause_of(error)) from None
    if not generated.succeeded or not generated.instance_id:
        raise ComponentFailed(GENERATE_FAILED + suffix, f"ReturnValue {generated.return_value}")
    try:
        key_pairs = await amt.enumerate(certificates.PUBLIC_PRIVATE_KEY_PAIRS)
    except CALL_ERRORS as error:
        raise ComponentFailed(ENUMERATE_FAILED + suffix, cause_of(error)) from None
    der_key = next((pair.der_key for pair in key_pairs if pair.instance_id == generated.instance_id), "")
    if not der_key:
        raise ComponentFailed(SEND_KEY_FAILED + suffix, f"{generated.instance_id} is not listed by AMT")
    return generated.instance_id, der_key


async def trusted_root_handle(amt: AmtSession, root: x509.Certificate, failure_text: str) -> str:
    """The InstanceID of `root` as a trusted root in AMT: the one AMT holds, or a new one."""
    root_der = _der(root)
    root_b64 = base64.b64encode(root_der).decode("ascii")
    try:
        held = await amt.enumerate(certificates.PUBLIC_KEY_CERTIFICATES)
        existing = next((entry for entry in held if entry.trusted_root and entry.x509_certificate == root_b64), None)
        if existing is not None and existing.instance_id:
            return existing.instance_id
        added = await amt.call(certificates.add_trusted_root_certificate(root_der))
    except CALL_ERRORS as error:
        raise ComponentFailed(failure_text, cause_of(error)) from None
    if not added.succeeded or not added.instance_id:
        raise ComponentFailed(failure_text, f"ReturnValue {added.return_value}")
    return added.instance_id


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


__all__ = [
    "EAP_TLS",
    "CertificateOnDevice",
    "EnterpriseAssistantScope",
    "certificate_for_amt_key",
    "describe",
    "request_account",
    "trusted_root_handle",
]
