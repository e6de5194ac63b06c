"""The EA wire format (spec/enterprise-assistant.md §2): the three requests, byte for byte as
upstream sends them, which replies answer which request, and the replies read into typed results.

The EA casts the request fields and silently drops a request that does not match (§10.4), so the
constants and key order are upstream's exactly. Replies are an authenticated EA's, but still
checked field by field: what AMT is handed (a certificate, a trusted root, an 802.1X identity)
comes from them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from activation.enterprise_assistant.errors import EnterpriseAssistantReplyMalformed
from rps_site.sensitive import Secret

PROFILE_REQUEST = "802.1x-ProFile-Request"  # the capital F is upstream's; the EA matches it exactly
KEY_PAIR_RESPONSE = "802.1x-KeyPair-Response"
CSR_RESPONSE = "802.1x-CSR-Response"

EAP_TLS = 0
PEAP_MSCHAPV2 = 2
SERVED_PROTOCOLS = {EAP_TLS: "EAP-TLS", PEAP_MSCHAPV2: "PEAPv0/EAP-MSCHAPv2"}  # all the EA answers (§3)

_KEY_PAIR_REQUESTS = {"802.1x-KeyPair-Request", "KeyPair-Request"}
_COMPLETED = {"802.1x-Profile-Completed", "Profile-Completed"}
# The older EA names its replies "802.1x-…", the current one drops the prefix, and for EAP-TLS the
# current one echoes the ProFile request itself (§2.6). Upstream accepts any message with the
# right nodeid (B3); a reply of the wrong kind is a duplicate or a stale answer to an earlier
# step, so it answers nothing here.
REPLIES = {
    PROFILE_REQUEST: frozenset({*_KEY_PAIR_REQUESTS, *_COMPLETED, PROFILE_REQUEST}),
    KEY_PAIR_RESPONSE: frozenset({"802.1x-CSR-Request", "CSR-Request"}),
    CSR_RESPONSE: frozenset(_COMPLETED),
}


def subaction_of(message: dict[str, Any]) -> str | None:
    subaction = message.get("subaction")
    return subaction if isinstance(subaction, str) else None


def reply_fits(request_subaction: str, reply: dict[str, Any]) -> bool:
    return subaction_of(reply) in REPLIES.get(request_subaction, frozenset())


def shown(value: object) -> str:
    """An EA-supplied value for a log line or an error text: short, quoted."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- requests (§2.1–2.4) ---------------------------------------------------------------------


def _common(subaction: str, node_id: str) -> dict[str, Any]:
    return {
        "action": "satellite",
        "subaction": subaction,
        "satelliteFlags": 2,
        "nodeid": node_id,
        "domain": "",
        "reqid": "",
    }


def _without_absent(message: dict[str, Any]) -> dict[str, Any]:
    # JSON.stringify drops undefined values: upstream omits devname when the device sent none.
    return {key: value for key, value in message.items() if not (key == "devname" and value is None)}


def profile_request(*, node_id: str, auth_protocol: int, device_name: str | None) -> dict[str, Any]:
    return _without_absent(
        {
            **_common(PROFILE_REQUEST, node_id),
            "authProtocol": auth_protocol,
            "osname": "win11",
            "devname": device_name,
            "icon": 1,
            "cert": None,
            "certid": None,
            "ver": "",
        }
    )


def key_pair_response(*, node_id: str, device_name: str | None, der_key: str, key_instance_id: str) -> dict[str, Any]:
    return _without_absent(
        {
            **_common(KEY_PAIR_RESPONSE, node_id),
            "devname": device_name,
            "authProtocol": EAP_TLS,  # always 0: the EA only builds CSRs for EAP-TLS
            "osname": "win11",
            "icon": 1,
            "DERKey": der_key,
            "keyInstanceId": key_instance_id,
            "ver": "",
        }
    )


def csr_response(*, node_id: str, device_name: str | None, signed_csr: str) -> dict[str, Any]:
    return _without_absent(
        {
            **_common(CSR_RESPONSE, node_id),
            "authProtocol": EAP_TLS,
            "osname": "win11",
            "devname": device_name,
            "icon": 1,
            "signedcsr": signed_csr,
            "ver": "",
        }
    )


def encode(message: dict[str, Any]) -> str:
    """As `JSON.stringify`: no spaces, non-ASCII left as is."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


# -- replies (§2.5–2.6) ----------------------------------------------------------------------


@dataclass(frozen=True)
class PeapAccount:
    """The AD computer account the EA made or reset for PEAP-MSCHAPv2, and the root AMT must
    trust for the RADIUS server. The password goes to AMT only."""

    username: str
    password: Secret
    domain: str
    root_certificate: x509.Certificate


@dataclass(frozen=True)
class ProfileReply:
    account: PeapAccount | None  # PEAP: the account; EAP-TLS and TLS: None, a key pair comes next


@dataclass(frozen=True)
class CertificateRequestTemplate:
    """The EA's null-signed PKCS#10 for AMT to sign with the key pair it generated."""

    null_signed_request: str  # base64 DER, as GeneratePKCS10RequestEx takes it
    key_instance_id: str
    subject: x509.Name


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: x509.Certificate  # issued by the Microsoft CA for AMT's key
    root_certificate: x509.Certificate
    username: str | None  # the 802.1X identity (the AD account); the EA may leave it out
    domain: str


def certificate_blob(certificate: x509.Certificate) -> str:
    """Base64 DER without line breaks, as AddCertificate and AddTrustedRootCertificate take it."""
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def rsa_public_key_from_der_key(der_key: str) -> rsa.RSAPublicKey:
    """AMT_PublicPrivateKeyPair.DERKey: base64 of a PKCS#1 RSAPublicKey. Raises ValueError."""
    try:
        raw = base64.b64decode(der_key, validate=True)
    except binascii.Error:
        raise ValueError("DERKey is not base64") from None
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(raw) + b"-----END RSA PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(pem)  # ValueError when it is not a PKCS#1 key
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("DERKey is not an RSA public key")
    return key


class _Reply:
    """Field access on one reply that turns every gap into a named, typed failure."""

    def __init__(self, step: str, message: dict[str, Any]) -> None:
        self.step = step
        response = message.get("response")
        if not isinstance(response, dict):
            raise self.malformed("the reply has no response object")
        self.response: dict[str, Any] = response

    def malformed(self, cause: str) -> EnterpriseAssistantReplyMalformed:
        return EnterpriseAssistantReplyMalformed(self.step, cause)

    def text(self, name: str) -> str:
        value = self.response.get(name)
        if not isinstance(value, str) or not value:
            raise self.malformed(f"response.{name} is missing")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.response.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.malformed(f"response.{name} is not text")
        return value

    def der(self, name: str) -> bytes:
        try:
            return base64.b64decode(self.text(name), validate=True)
        except binascii.Error:
            raise self.malformed(f"response.{name} is not base64") from None

    def certificate(self, name: str) -> x509.Certificate:
        try:
            return x509.load_der_x509_certificate(self.der(name))
        except ValueError:
            raise self.malformed(f"response.{name} is not a DER certificate") from None


def parse_profile_reply(message: dict[str, Any], *, auth_protocol: int) -> ProfileReply:
    if auth_protocol != PEAP_MSCHAPV2:
        return ProfileReply(account=None)  # any fitting reply lets EAP-TLS go on (§2.5)
    if subaction_of(message) not in _COMPLETED:
        raise EnterpriseAssistantReplyMalformed(
            PROFILE_REQUEST,
            f"a PEAP request was answered with {shown(message.get('subaction'))}, not Profile-Completed",
        )
    reply = _Reply(PROFILE_REQUEST, message)
    return ProfileReply(
        account=PeapAccount(
            username=reply.text("username"),
            password=Secret(reply.text("password")),
            domain=reply.optional_text("domain") or "",
            root_certificate=reply.certificate("rootcert"),
        )
    )


def parse_csr_request(
    message: dict[str, Any], *, public_key: rsa.RSAPublicKey, key_instance_id: str
) -> CertificateRequestTemplate:
    reply = _Reply(KEY_PAIR_RESPONSE, message)
    try:
        template = x509.load_der_x509_csr(reply.der("csr"))
    except ValueError:
        raise reply.malformed("response.csr is not a DER PKCS#10 request") from None
    # Upstream signs whatever key the EA echoes (W7); a different one is a confused EA, and AMT
    # would sign a request for a key it does not hold.
    if reply.text("keyInstanceId") != key_instance_id:
        raise reply.malformed("response.keyInstanceId names another key pair than the one sent")
    if template.public_key() != public_key:
        raise reply.malformed("response.csr is for another public key than AMT's")
    return CertificateRequestTemplate(reply.text("csr"), key_instance_id, template.subject)


def parse_issued_certificate(message: dict[str, Any], *, public_key: rsa.RSAPublicKey) -> IssuedCertificate:
    reply = _Reply(CSR_RESPONSE, message)
    certificate = reply.certificate("certificate")
    if certificate.public_key() != public_key:
        raise reply.malformed("response.certificate is for another public key than AMT's")
    return IssuedCertificate(
        certificate=certificate,
        root_certificate=reply.certificate("rootcert"),
        username=reply.optional_text("username"),
        domain=reply.optional_text("domain") or "",
    )
