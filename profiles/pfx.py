"""Provisioning certificates (PKCS#12 / PFX): the create-time checks of rest-api.md §2.1.

The checks run in upstream's order and stop at the first failure, whose text (reproduced exactly)
becomes one validation error on `provisioningCert`. The leaf is the first certificate bag: OpenSSL
(through `cryptography`) returns the certificate that belongs to the key first and the others in
bag order, which is the bag order of every PFX produced by the usual tools (leaf, then CAs).
No message ever contains the password or the certificate.

Opening a PFX is bounded (SECURITY.md check 23): `profiles.pkcs12_inspection` refuses a file over
its size, iteration or total key-derivation limits, or whose password is wrong, before
`cryptography` runs a single derivation of it; each refusal names its cause.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

from profiles import pkcs12_inspection, pkcs12_schemes

AMT_ACTIVATION_OID = x509.ObjectIdentifier("2.16.840.1.113741.1.2.3")
MINIMUM_RSA_BITS = 2048

UNABLE_TO_DECRYPT = (
    "Unable to decrypt provisioning certificate. Please check that the password is correct, "
    "and that the certificate is a valid certificate."
)
NO_PARSABLE_CERTIFICATES = (
    "No certificates could be parsed from the provisioning certificate. The certificate may use an "
    "unsupported public-key algorithm; an RSA-keyed certificate is required."
)
NO_CERTIFICATES = "No certificates found in the provisioning certificate"
NO_COMMON_NAME = "Provisioning certificate does not contain a Common Name (CN) in the subject"
FQDN_MISMATCH = "FQDN not associated with provisioning certificate"
EXPIRED = "Uploaded certificate has expired"
NO_ROOT = "Provisioning certificate does not contain a root certificate"
NO_PRIVATE_KEY = "Provisioning certificate does not contain a private key"
NOT_AN_RSA_KEY = "Provisioning certificate private key is not an RSA key; AMT needs an RSA key"
NOT_BASE64 = "Provisioning certificate is not a PKCS#12 (PFX) file: it is not valid base64"
WRONG_PASSWORD = "Provisioning certificate password is incorrect"
# base64 of the largest PFX accepted, with room for line breaks
MAX_BASE64_CHARACTERS = pkcs12_inspection.MAX_PFX_BYTES * 4 // 3 + 4096
KEY_MISMATCH = "Private key in the PFX does not match the leaf certificate public key"
BROKEN_CHAIN = "Certificate chain is broken: cannot find issuer for a certificate in the chain"
MISSING_AMT_OID = "Leaf certificate is missing the Intel AMT Activation EKU OID (2.16.840.1.113741.1.2.3)"


class PfxRejected(Exception):
    """A provisioning certificate failed one of the checks; the text is upstream's."""


@dataclass(frozen=True)
class DecryptedPfx:
    certificates: list[x509.Certificate]  # leaf first
    private_key: rsa.RSAPrivateKey
    unparsable_certificates: int

    @property
    def expiration_date(self) -> datetime:
        """The earliest notAfter of all certificates: when the chain stops working."""
        return min(certificate.not_valid_after_utc for certificate in self.certificates)


def iso_milliseconds(moment: datetime) -> str:
    """JavaScript's `Date.toISOString()`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _refusal(problem: pkcs12_schemes.Pkcs12Problem) -> str:
    if isinstance(problem, pkcs12_schemes.WrongPassword):
        return WRONG_PASSWORD
    if isinstance(problem, pkcs12_schemes.NotPkcs12):
        return f"Provisioning certificate is not a PKCS#12 (PFX) file: {problem}"
    if isinstance(problem, pkcs12_schemes.LimitExceeded):
        return f"Provisioning certificate refused: {problem}"
    return f"Provisioning certificate uses an unsupported format: {problem}"


def decrypt(pfx_base64: str, password: str) -> DecryptedPfx:
    """Decode, inspect within the limits, then decrypt; raises PfxRejected naming the cause."""
    if len(pfx_base64) > MAX_BASE64_CHARACTERS:
        raise PfxRejected(
            f"Provisioning certificate refused: it is {len(pfx_base64)} characters of base64; "
            f"the limit is {MAX_BASE64_CHARACTERS}"
        )
    try:
        der = base64.b64decode(pfx_base64, validate=False)
    except (ValueError, TypeError, binascii.Error):
        raise PfxRejected(NOT_BASE64) from None
    try:
        password_bytes = password.encode("utf-8")
    except UnicodeError:
        raise PfxRejected(WRONG_PASSWORD) from None  # no PFX is made with a password that is not text
    try:
        inspection = pkcs12_inspection.inspect(der, password)
    except pkcs12_schemes.Pkcs12Problem as problem:
        raise PfxRejected(_refusal(problem)) from None
    try:
        bundle = pkcs12.load_pkcs12(der, password_bytes)
    except (ValueError, TypeError):
        raise PfxRejected(WRONG_PASSWORD if inspection.password_is_wrong(password) else UNABLE_TO_DECRYPT) from None
    bags = ([bundle.cert] if bundle.cert is not None else []) + list(bundle.additional_certs)
    certificates = [bag.certificate for bag in bags if isinstance(bag.certificate.public_key(), rsa.RSAPublicKey)]
    unparsable = len(bags) - len(certificates)
    if not certificates and unparsable:
        raise PfxRejected(NO_PARSABLE_CERTIFICATES)
    if bundle.key is None:
        raise PfxRejected(NO_PRIVATE_KEY)
    if not isinstance(bundle.key, rsa.RSAPrivateKey):
        raise PfxRejected(NOT_AN_RSA_KEY)
    return DecryptedPfx(certificates=certificates, private_key=bundle.key, unparsable_certificates=unparsable)


def last_two_labels(name: str) -> str:
    """`labels[n-2] + "." + labels[n-1]`, as upstream compares them (one label: `undefined.x`)."""
    labels = name.strip().split(".")
    second = labels[-2] if len(labels) >= 2 else "undefined"
    return f"{second}.{labels[-1]}"


def common_name(certificate: x509.Certificate) -> str | None:
    attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.subject == certificate.issuer


def _verify_signature(child: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        child.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError) as failure:
        detail = str(failure) or type(failure).__name__
        raise PfxRejected(f"Certificate chain signature verification failed: {detail}") from None


def _check_chain(certificates: list[x509.Certificate]) -> None:
    chain = [certificates[0]]
    current = certificates[0]
    while not _is_self_signed(current):
        candidates = (other for other in certificates if other.subject == current.issuer and other is not current)
        issuer = next(candidates, None)
        if issuer is None or issuer in chain:
            raise PfxRejected(BROKEN_CHAIN)
        chain.append(issuer)
        current = issuer
    for child, issuer in zip(chain, chain[1:], strict=False):
        _verify_signature(child, issuer)
    _verify_signature(chain[-1], chain[-1])


def _has_amt_activation_usage(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    except x509.ExtensionNotFound:
        return False
    assert isinstance(usage, x509.ExtendedKeyUsage)  # the value type of EXTENDED_KEY_USAGE
    return AMT_ACTIVATION_OID in list(usage)


def check_provisioning_certificate(
    pfx_base64: str, password: str, domain_suffix: str, *, now: datetime | None = None
) -> DecryptedPfx:
    """All eight checks, in order; returns the decrypted bundle or raises PfxRejected."""
    bundle = decrypt(pfx_base64, password)
    certificates = bundle.certificates
    if not certificates:
        raise PfxRejected(NO_CERTIFICATES)
    leaf = certificates[0]
    name = common_name(leaf)
    if not name:
        raise PfxRejected(NO_COMMON_NAME)
    if last_two_labels(name) != last_two_labels(domain_suffix):
        raise PfxRejected(FQDN_MISMATCH)
    moment = now or datetime.now(UTC)
    for certificate in certificates:
        if certificate.not_valid_before_utc > moment:
            raise PfxRejected(
                "Uploaded certificate is not yet valid: notBefore date "
                f"{iso_milliseconds(certificate.not_valid_before_utc)} is in the future"
            )
        if certificate.not_valid_after_utc < moment:
            raise PfxRejected(EXPIRED)
    if not any(_is_self_signed(certificate) for certificate in certificates):
        raise PfxRejected(NO_ROOT)
    for certificate in certificates:
        bits = certificate.public_key().key_size  # type: ignore[union-attr]
        if bits < MINIMUM_RSA_BITS:
            raise PfxRejected(f"Certificate key size {bits} bits is below the minimum required 2048 bits for AMT")
    leaf_key = leaf.public_key()
    if bundle.private_key.public_key().public_numbers().n != leaf_key.public_numbers().n:  # type: ignore[union-attr]
        raise PfxRejected(KEY_MISMATCH)
    if len(certificates) > 1:
        _check_chain(certificates)
    if not _has_amt_activation_usage(leaf):
        raise PfxRejected(MISSING_AMT_OID)
    return bundle
