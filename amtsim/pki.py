"""Test PKI: an ACM provisioning chain with its PFX, and a stand-in for Intel's On-Die CA.

* ``make_provisioning_chain`` builds root → intermediate → leaf where the leaf carries the
  AMT provisioning EKU (2.16.840.1.113741.1.2.3) and a CN under the given DNS suffix. Its
  ``pfx()`` is what a domains API accepts (rest-api.md §2.1): leaf first, a shrouded key
  bag, RSA ≥ 2048, the self-signed root included. Devices trust ``root_sha256``.
* ``make_on_die_ca`` and ``OnDieCa.issue_device_tls_identity`` build the factory-like chain
  TLS-enforced (AMT 19+) devices present on 16993 in pre-provisioning, ending at a generated
  root that stands in for ``reference/odca/OnDie_CA_RootCA_Certificate.cer`` (nobody has
  Intel's key); ``make_temporary_tls_identity`` the self-signed leaf they present once activated,
  until a server's TLS configuration is committed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AMT_PROVISIONING_OID = "2.16.840.1.113741.1.2.3"
CLIENT_SETUP_OU = "Intel(R) Client Setup Certificate"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(common_name: str, organization: str = "amtsim test PKI", unit: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
    ]
    if unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    return x509.Name(attributes)


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    signing_key: PrivateKey,
    ca: bool,
    valid_days: int,
    extended_key_usages: list[x509.ObjectIdentifier] | None = None,
    not_before: datetime | None = None,
) -> x509.Certificate:
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        builder = builder.add_extension(
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
    if extended_key_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(extended_key_usages), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def certificate_fingerprint(certificate: x509.Certificate, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class ProvisioningChain:
    """An ACM provisioning certificate chain; ``certificates`` is leaf, intermediate(s), root."""

    leaf_key: rsa.RSAPrivateKey
    certificates: list[x509.Certificate]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def root(self) -> x509.Certificate:
        return self.certificates[-1]

    @property
    def root_sha256(self) -> str:
        return certificate_fingerprint(self.root, "sha256")

    def ders(self) -> list[bytes]:
        return [certificate.public_bytes(serialization.Encoding.DER) for certificate in self.certificates]

    def sign_nonces(self, firmware_nonce: bytes, client_nonce: bytes) -> bytes:
        """What a server sends as AdminSetup's DigitalSignature (RSA PKCS#1 v1.5, SHA-256)."""
        return self.leaf_key.sign(firmware_nonce + client_nonce, padding.PKCS1v15(), hashes.SHA256())

    def pfx(self, password: str, *, legacy_encryption: bool = True) -> bytes:
        """PKCS#12 with the leaf's key in a shrouded key bag and cert bags leaf first.

        Triple-DES/SHA-1 PBE is the default because every PKCS#12 reader (node-forge
        included) understands it; pass ``legacy_encryption=False`` for AES-256.
        """
        if legacy_encryption:
            encryption = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(2048)
                .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
                .hmac_hash(hashes.SHA1())  # noqa: S303 - PKCS#12 MAC that every reader supports
                .build(password.encode())
            )
        else:
            encryption = serialization.BestAvailableEncryption(password.encode())
        return pkcs12.serialize_key_and_certificates(
            name=b"amt-provisioning",
            key=self.leaf_key,
            cert=self.leaf,
            cas=self.certificates[1:],
            encryption_algorithm=encryption,
        )

    def chain_pem(self) -> bytes:
        return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in self.certificates)


def make_provisioning_chain(
    domain_suffix: str,
    *,
    leaf_common_name: str | None = None,
    key_size: int = 2048,
    with_provisioning_oid: bool = True,
    with_client_setup_ou: bool = False,
    intermediate: bool = True,
    valid_days: int = 730,
) -> ProvisioningChain:
    """A fresh root → intermediate → leaf chain for ACM activation under ``domain_suffix``."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    root_name = _name("amtsim Provisioning Root CA")
    root = _certificate(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        ca=True,
        valid_days=valid_days + 365,
    )
    issuer_key: rsa.RSAPrivateKey = root_key
    issuer_name = root_name
    middle: list[x509.Certificate] = []
    if intermediate:
        intermediate_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        intermediate_name = _name("amtsim Provisioning Intermediate CA")
        middle.append(
            _certificate(
                subject=intermediate_name,
                issuer=root_name,
                public_key=intermediate_key.public_key(),
                signing_key=root_key,
                ca=True,
                valid_days=valid_days + 180,
            )
        )
        issuer_key, issuer_name = intermediate_key, intermediate_name
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH]
    if with_provisioning_oid:
        usages.append(x509.ObjectIdentifier(AMT_PROVISIONING_OID))
    leaf = _certificate(
        subject=_name(
            leaf_common_name or f"provisioning.{domain_suffix}",
            unit=CLIENT_SETUP_OU if with_client_setup_ou else None,
        ),
        issuer=issuer_name,
        public_key=leaf_key.public_key(),
        signing_key=issuer_key,
        ca=False,
        valid_days=valid_days,
        extended_key_usages=usages,
    )
    return ProvisioningChain(leaf_key=leaf_key, certificates=[leaf, *middle, root])


def load_pfx_chain(pfx: bytes, password: str) -> ProvisioningChain:
    """Read a provisioning PFX back (leaf = first certificate), as a server would."""
    loaded = pkcs12.load_pkcs12(pfx, password.encode())
    if loaded.key is None or loaded.cert is None or not isinstance(loaded.key, rsa.RSAPrivateKey):
        raise ValueError("PFX needs an RSA key and a leaf certificate")
    return ProvisioningChain(
        leaf_key=loaded.key,
        certificates=[loaded.cert.certificate, *(entry.certificate for entry in loaded.additional_certs)],
    )


# -- On-Die CA stand-in for TLS-enforced devices ------------------------------------------------


@dataclass(frozen=True)
class DeviceTlsIdentity:
    """What a TLS-enforced device serves on 16993: a key and its chain (leaf first)."""

    key: PrivateKey
    certificates: list[x509.Certificate]

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def chain_pem(self) -> bytes:
        return b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in self.certificates)


@dataclass(frozen=True)
class OnDieCa:
    """A generated ODCA root and intermediate; servers under test trust ``root`` in place of Intel's."""

    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def issue_device_tls_identity(self, device_uuid: str) -> DeviceTlsIdentity:
        # The factory RCFG leaf has no serverAuth EKU (protocol.md §5.4), so none is set here.
        key = ec.generate_private_key(ec.SECP384R1())
        leaf = _certificate(
            subject=_name(f"RCFG {device_uuid}", organization="amtsim On-Die CA (test)", unit="AMT RCFG"),
            issuer=self.intermediate.subject,
            public_key=key.public_key(),
            signing_key=self.intermediate_key,
            ca=False,
            valid_days=3650,
        )
        return DeviceTlsIdentity(key=key, certificates=[leaf, self.intermediate])


def make_temporary_tls_identity(device_uuid: str) -> DeviceTlsIdentity:
    """The self-signed leaf AMT 19+ generates when it is activated and serves on 16993 until a
    server's TLS configuration is committed (protocol.md §5.4). Nothing vouches for it: a server
    talking to the device in that window relies on the admin digest password alone."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name(f"AMT {device_uuid}", organization="amtsim (temporary self-signed)")
    leaf = _certificate(
        subject=name,
        issuer=name,
        public_key=key.public_key(),
        signing_key=key,
        ca=False,
        valid_days=3650,
        extended_key_usages=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    return DeviceTlsIdentity(key=key, certificates=[leaf])


def make_on_die_ca() -> OnDieCa:
    # ECC P-384 like Intel's ODCA root (see reference/odca/README.md).
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = _name("amtsim On-Die CA Root (test)", organization="amtsim", unit="OnDie CA Root Cert Signing")
    root = _certificate(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        ca=True,
        valid_days=3650 * 3,
    )
    intermediate_key = ec.generate_private_key(ec.SECP384R1())
    intermediate = _certificate(
        subject=_name("amtsim On-Die CA Intermediate (test)", organization="amtsim", unit="OnDie CA"),
        issuer=root_name,
        public_key=intermediate_key.public_key(),
        signing_key=root_key,
        ca=True,
        valid_days=3650 * 2,
    )
    return OnDieCa(root=root, intermediate=intermediate, intermediate_key=intermediate_key)


_shared_on_die_ca: OnDieCa | None = None


def shared_on_die_ca() -> OnDieCa:
    """One ODCA stand-in per process, so every simulated device chains to the same root."""
    global _shared_on_die_ca
    if _shared_on_die_ca is None:
        _shared_on_die_ca = make_on_die_ca()
    return _shared_on_die_ca


def install_on_die_ca(on_die_ca: OnDieCa) -> None:
    """Use a given ODCA stand-in (e.g. one loaded from disk by the CLI) for new devices."""
    global _shared_on_die_ca
    _shared_on_die_ca = on_die_ca


# -- The Microsoft CA behind a virtual Enterprise Assistant -------------------------------------


@dataclass(frozen=True)
class EnterpriseCa:
    """A self-signed RSA root that issues AMT's 802.1X and TLS certificates, as the EA's Microsoft
    CA does. The EA cannot tell an 802.1X request from a TLS one (both say protocol 0), so every
    certificate carries clientAuth and serverAuth (enterprise-assistant.md §11.3)."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey

    def issue(self, request: x509.CertificateSigningRequest, *, valid_days: int = 365) -> x509.Certificate:
        public_key = request.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError("the request's key is neither RSA nor EC")
        return _certificate(
            subject=request.subject,
            issuer=self.root.subject,
            public_key=public_key,
            signing_key=self.root_key,
            ca=False,
            valid_days=valid_days,
            extended_key_usages=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
        )

    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.root_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def make_enterprise_ca(common_name: str = "amtsim Enterprise Root CA") -> EnterpriseCa:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = _name(common_name, organization="amtsim Enterprise (test)")
    root = _certificate(
        subject=name, issuer=name, public_key=key.public_key(), signing_key=key, ca=True, valid_days=3650
    )
    return EnterpriseCa(root=root, root_key=key)


def load_enterprise_ca(certificate_pem: bytes, key_pem: bytes) -> EnterpriseCa:
    key = serialization.load_pem_private_key(key_pem, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the CA key must be an RSA private key")
    root = x509.load_pem_x509_certificate(certificate_pem)
    if root.public_key() != key.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    return EnterpriseCa(root=root, root_key=key)
