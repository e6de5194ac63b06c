"""Trust in a TLS-enforced device before activation: its factory RCFG chain must end at an Intel
AMT On-Die CA (ODCA) root (protocol.md §5.4).

The shipped anchor is Intel's ODCA root (`activation/certs/`, copied from rpc-go's trusted
store); `RPS_AMT_EXTRA_ODCA_ROOTS` adds roots from a PEM bundle (tests add amtsim's generated
stand-in). The check is what upstream does, done here rather than by OpenSSL: Python's `ssl`
verification insists on a serverAuth-capable chain and a hostname, and the RCFG leaf has neither.
Each certificate's signature and validity dates are checked, walking from the leaf through the
certificates the device sent until one is signed by (or is) a trusted root. No EKU, no hostname.

Only a device in pre-provisioning presents that chain. Once activated, AMT 19+ presents a
self-signed leaf of its own until RPS's TLS configuration is committed; nothing can verify it, and
the admin digest password protects that window (activation/flows/tls_enforced.py).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning

from activation.session_errors import AmtSessionError

SHIPPED_ODCA_ROOT: Final = Path(__file__).resolve().parent / "certs" / "OnDie_CA_RootCA_Certificate.cer"
MAX_CHAIN_LENGTH: Final = 8
UNTRUSTED_TEXT: Final = "Device certificate is not trusted: the AMT TLS chain does not end at an Intel On-Die CA root."


class UntrustedDeviceCertificate(AmtSessionError):
    """The device's TLS chain failed verification; never retried, nothing is sent to the device."""

    failure_text = UNTRUSTED_TEXT

    def __init__(self, detail: str) -> None:
        super().__init__("TLS tunnel", detail)


class TrustAnchorsUnreadable(Exception):
    """A configured ODCA root file cannot be read or holds no certificate."""


@contextmanager
def _lenient_parsing() -> Iterator[None]:
    # Intel's ODCA root has a NULL parameter in its ECDSA signature algorithm; cryptography
    # accepts it with a deprecation warning. The root is genuine: keep it, silence that warning.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
        yield


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """DER (one certificate) or a PEM bundle."""
    with _lenient_parsing():
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]


def load_trust_anchors(extra_roots_path: str | None = None) -> tuple[x509.Certificate, ...]:
    """Intel's ODCA root plus the roots in the optional PEM bundle."""
    paths = [SHIPPED_ODCA_ROOT] + ([Path(extra_roots_path)] if extra_roots_path else [])
    anchors: list[x509.Certificate] = []
    for path in paths:
        try:
            anchors += load_certificates(path.read_bytes())
        except (OSError, ValueError) as error:
            raise TrustAnchorsUnreadable(f"ODCA roots in {path}: {type(error).__name__}") from None
    return tuple(anchors)


@functools.cache
def configured_trust_anchors() -> tuple[x509.Certificate, ...]:
    """The anchors of the running server (read once: `RPS_AMT_EXTRA_ODCA_ROOTS`)."""
    from django.conf import settings

    return load_trust_anchors(getattr(settings, "AMT_EXTRA_ODCA_ROOTS", "") or None)


def _describe(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string()[:200]


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        with _lenient_parsing():
            certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _check_validity(certificate: x509.Certificate, now: datetime) -> None:
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise UntrustedDeviceCertificate(
            f"certificate {_describe(certificate)} is outside its validity period "
            f"({certificate.not_valid_before_utc:%Y-%m-%d} to {certificate.not_valid_after_utc:%Y-%m-%d})"
        )


def _may_issue(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return True  # upstream checks signatures and dates only
    return constraints.ca


def verify_device_chain(
    chain_der: Sequence[bytes], anchors: Sequence[x509.Certificate], *, now: datetime | None = None
) -> x509.Certificate:
    """Verify the chain the device sent (leaf first) against `anchors`; return the root it ends at.

    Raises `UntrustedDeviceCertificate` saying why.
    """
    if not chain_der:
        raise UntrustedDeviceCertificate("the device presented no certificate")
    now = now or datetime.now(UTC)
    try:
        with _lenient_parsing():
            presented = [x509.load_der_x509_certificate(der) for der in chain_der]
    except ValueError:
        raise UntrustedDeviceCertificate("the device presented an unreadable certificate") from None
    anchor_ders = {anchor.public_bytes(Encoding.DER) for anchor in anchors}
    current = presented[0]
    candidates = presented[1:]
    for _ in range(MAX_CHAIN_LENGTH):
        _check_validity(current, now)
        if current.public_bytes(Encoding.DER) in anchor_ders:
            return current  # the device sent the trusted root itself
        for anchor in anchors:
            if _signed_by(current, anchor):
                _check_validity(anchor, now)
                return anchor
        issuer = next((c for c in candidates if _may_issue(c) and _signed_by(current, c)), None)
        if issuer is None:
            raise UntrustedDeviceCertificate(
                f"no trusted On-Die CA root or presented certificate signed {_describe(current)} "
                f"(issuer {current.issuer.rfc4514_string()[:200]})"
            )
        candidates.remove(issuer)
        current = issuer
    raise UntrustedDeviceCertificate(f"the chain is longer than {MAX_CHAIN_LENGTH} certificates")


__all__ = [
    "SHIPPED_ODCA_ROOT",
    "TrustAnchorsUnreadable",
    "UntrustedDeviceCertificate",
    "configured_trust_anchors",
    "load_certificates",
    "load_trust_anchors",
    "verify_device_chain",
]
