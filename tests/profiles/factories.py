"""Test data for the admin-defined resources (append-only: each resource adds its own)."""

from __future__ import annotations

import base64
import datetime as dt
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# --- provisioning certificates (domains) ---------------------------------------------------------

AMT_ACTIVATION = x509.ObjectIdentifier("2.16.840.1.113741.1.2.3")
PFX_PASSWORD = "P@ssw0rd-pfx"
PFX_CN = "vpro.example.com"


@lru_cache(maxsize=8)
def rsa_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    """Keys are slow to make: a few cached ones serve every test."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def certificate(
    *,
    subject_cn: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    issuer_cn: str | None = None,
    issuer_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    amt_usage: bool = True,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]) if subject_cn else x509.Name([])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]) if issuer_cn else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=3650))
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if amt_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, AMT_ACTIVATION]), critical=False
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def pfx_base64(
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None,
    certificates: list[x509.Certificate],
    password: str = PFX_PASSWORD,
) -> str:
    """A PKCS#12 with the key (shrouded) and the certificates, leaf first, base64."""
    leaf, *others = certificates or [None]
    blob = pkcs12.serialize_key_and_certificates(
        b"domain", key, leaf, others or None, BestAvailableEncryption(password.encode())
    )
    return base64.b64encode(blob).decode()


@lru_cache(maxsize=1)
def provisioning_pfx() -> str:
    """A valid AMT provisioning certificate for `*.example.com`: leaf + self-signed root."""
    root_key, leaf_key = rsa_key(2048, 0), rsa_key(2048, 1)
    root = certificate(subject_cn="Test Root CA", key=root_key, ca=True, amt_usage=False)
    leaf = certificate(subject_cn=PFX_CN, key=leaf_key, issuer_cn="Test Root CA", issuer_key=root_key)
    return pfx_base64(key=leaf_key, certificates=[leaf, root])


def domain_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "profileName": name,
        "domainSuffix": f"{name.lower()}.example.com",
        "provisioningCert": provisioning_pfx(),
        "provisioningCertStorageFormat": "raw",
        "provisioningCertPassword": PFX_PASSWORD,
    }
    body.update(overrides)
    return body


# --- CIRA, wireless, 802.1X and proxy configs -------------------------------------------------------


def cira_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "configName": name,
        "mpsServerAddress": "192.168.8.50",
        "mpsPort": 4433,
        "username": "admin",
        "password": f"Mps-{name}-Pw1!",
        "commonName": "192.168.8.50",
        "serverAddressFormat": 3,
        "authMethod": 2,
        "mpsRootCertificate": "rootcert",
        "proxyDetails": "",
    }
    body.update(overrides)
    return body


def wireless_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "profileName": name,
        "authenticationMethod": 4,
        "encryptionMethod": 4,
        "ssid": "office",
        "pskPassphrase": f"psk-{name}",
        "linkPolicy": [14, 16],
    }
    body.update(overrides)
    return body


def ieee8021x_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "profileName": name,
        "authenticationProtocol": 0,
        "pxeTimeout": 120,
        "wiredInterface": True,
        "password": f"eap-{name}",
    }
    body.update(overrides)
    return body


def proxy_body(name: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": name,
        "address": f"{name.lower()}.proxy.example.com",
        "port": 3128,
        "networkDnsSuffix": "corp.example.com",
    }
    body.update(overrides)
    return body


def ccm_profile_body(name: str, **overrides: object) -> dict[str, object]:
    """A client-control-mode profile with generated passwords and DHCP: no secret to give."""
    body: dict[str, object] = {
        "profileName": name,
        "activation": "ccmactivate",
        "generateRandomPassword": True,
        "generateRandomMEBxPassword": False,
        "dhcpEnabled": True,
    }
    body.update(overrides)
    return body
