"""The self-signed TLS root and issued certificate a profile with `SelfSigned` TLS carries.

Shaped like upstream's generator (rest-api.md §3.2: RSA-2048 root `CN=oact-<profile>` valid
2018-2049, an issued `CN=oact-issued-<profile>` for AMT client auth) but stored compactly: each
certificate is one small JSON string with `pem` (line breaks removed), `certbin` (base64 DER)
and `privateKeyBin` (PKCS#1 PEM, CRLF). Upstream's node-forge object has thousands of JSON
strings, which OpenBao's default listener refuses; the only consumer upstream reads is
`ROOT_CERTIFICATE.certbin`.
"""

from __future__ import annotations

import base64
import json
import secrets as random_source
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from rps_site.sensitive import Secret

ROOT_KEY = "ROOT_CERTIFICATE"
ISSUED_KEY = "ISSUED_CERTIFICATE"

NOT_BEFORE = datetime(2018, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, tzinfo=UTC)
AMT_CLIENT_AUTH = ObjectIdentifier("2.16.840.1.113741.1.2.1")
NETSCAPE_CERT_TYPE = ObjectIdentifier("2.16.840.1.113730.1.1")
# DER BIT STRINGs of nsCertType: sslCA+emailCA+objCA (bits 5-7), and client (bit 0).
NS_CERT_TYPE_CA = bytes([0x03, 0x02, 0x00, 0x07])
NS_CERT_TYPE_CLIENT = bytes([0x03, 0x02, 0x07, 0x80])


@dataclass(frozen=True)
class IssuedPair:
    """One certificate with its key, in the compact stored form."""

    pem: str
    certbin: str
    private_key_bin: str

    def to_json(self) -> str:
        return json.dumps({"pem": self.pem, "certbin": self.certbin, "privateKeyBin": self.private_key_bin})

    @classmethod
    def from_json(cls, text: str) -> IssuedPair:
        data = json.loads(text)
        return cls(pem=data["pem"], certbin=data["certbin"], private_key_bin=data["privateKeyBin"])


@dataclass(frozen=True)
class ProfileTlsCertificates:
    root: IssuedPair
    issued: IssuedPair

    def secret_values(self) -> dict[str, Secret]:
        return {ROOT_KEY: Secret(self.root.to_json()), ISSUED_KEY: Secret(self.issued.to_json())}

    @classmethod
    def from_secret_values(cls, values: Mapping[str, Secret]) -> ProfileTlsCertificates:
        """Read back what `secret_values` stored at `TLS/<profile>` (the device flow needs `root.certbin`)."""
        return cls(
            root=IssuedPair.from_json(values[ROOT_KEY].reveal()),
            issued=IssuedPair.from_json(values[ISSUED_KEY].reveal()),
        )


def _serial() -> int:
    raw = bytearray(random_source.token_bytes(16))
    raw[0] &= 0x7F  # positive
    raw[-1] |= 0x01
    return int.from_bytes(raw, "big")


UB_COMMON_NAME = 64  # X.509's upper bound (RFC 5280); a profile name may be up to 256 characters


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:UB_COMMON_NAME]),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "state"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intel"),
        ]
    )


def _pair(certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> IssuedPair:
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    return IssuedPair(
        pem=pem.replace("\r", "").replace("\n", ""),
        certbin=base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode("ascii"),
        private_key_bin=key_pem.replace("\r\n", "\n").replace("\n", "\r\n"),
    )


def generate_profile_certificates(profile_name: str) -> ProfileTlsCertificates:
    """A fresh root and issued certificate for `profile_name` (two RSA-2048 keys)."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = _name(f"oact-{profile_name}")
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(_serial())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .add_extension(x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, NS_CERT_TYPE_CA), critical=False)
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    issued_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issued = (
        x509.CertificateBuilder()
        .subject_name(_name(f"oact-issued-{profile_name}"))
        .issuer_name(root_name)
        .public_key(issued_key.public_key())
        .serial_number(_serial())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([AMT_CLIENT_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.UnrecognizedExtension(NETSCAPE_CERT_TYPE, NS_CERT_TYPE_CLIENT), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return ProfileTlsCertificates(root=_pair(root, root_key), issued=_pair(issued, issued_key))
