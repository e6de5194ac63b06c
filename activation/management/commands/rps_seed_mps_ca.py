"""Seed `MPSCerts` with a generated CA when it is absent (quick start and demos without MPS).

Device TLS certificates are signed with the CA in `MPSCerts` (protocol.md §4.9); in production
MPS writes it. This command never overwrites one that exists (create-only write).
"""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.management.base import BaseCommand

from rps_site.sensitive import Secret
from rps_site.vault import MPS_CERTIFICATES_PATH, SecretVersionConflict, secret_store


def generated_mps_ca(common_name: str = "MPSRoot") -> tuple[str, str]:
    """A self-signed RSA-2048 CA: (certificate PEM, PKCS#8 key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rps-django quick start"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), key_pem


class Command(BaseCommand):
    help = "Write a generated CA to Vault MPSCerts unless one is there already."

    def handle(self, *args: Any, **options: Any) -> None:
        store = secret_store()
        if store.read(MPS_CERTIFICATES_PATH) is not None:
            self.stdout.write("MPSCerts already present; left as is")
            return
        certificate_pem, key_pem = generated_mps_ca()
        try:
            store.create(MPS_CERTIFICATES_PATH, {"root_key": Secret(key_pem), "root_ca": Secret(certificate_pem)})
        except SecretVersionConflict:
            self.stdout.write("MPSCerts already present; left as is")
            return
        self.stdout.write("MPSCerts seeded with a generated CA")
