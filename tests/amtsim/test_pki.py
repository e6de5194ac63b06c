"""The provisioning PFX passes the domains API's checks (rest-api.md §2.1), checked independently."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from amtsim.__main__ import main
from amtsim.pki import make_on_die_ca, make_provisioning_chain

SHROUDED_KEY_BAG_OID = bytes.fromhex("060b2a864886f70d010c0a0102")  # 1.2.840.113549.1.12.10.1.2
PLAIN_KEY_BAG_OID = bytes.fromhex("060b2a864886f70d010c0a0101")  # 1.2.840.113549.1.12.10.1.1


def domains_api_accepts(pfx_base64: str, password: str, domain_suffix: str) -> None:
    """Steps 1–8 of the POST /domains PFX checks; raises AssertionError with the step."""
    pfx = base64.b64decode(pfx_base64)
    loaded = pkcs12.load_pkcs12(pfx, password.encode())
    certificates = [loaded.cert.certificate] + [entry.certificate for entry in loaded.additional_certs]
    leaf = certificates[0]
    common_name = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert str(common_name).split(".")[-2:] == domain_suffix.split(".")[-2:], "FQDN not associated"
    now = datetime.now(UTC)
    for certificate in certificates:
        assert certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc, "validity"
        assert isinstance(certificate.public_key(), rsa.RSAPublicKey)
        assert certificate.public_key().key_size >= 2048, "key size"
    roots = [certificate for certificate in certificates if certificate.subject == certificate.issuer]
    assert roots, "no root certificate"
    assert loaded.key is not None, "no private key"
    assert loaded.key.public_key().public_numbers() == leaf.public_key().public_numbers(), "key/leaf mismatch"
    assert SHROUDED_KEY_BAG_OID in pfx and PLAIN_KEY_BAG_OID not in pfx, "key must be in a shrouded key bag"
    current = leaf
    while current.subject != current.issuer:
        issuer = next(candidate for candidate in certificates if candidate.subject == current.issuer)
        current.verify_directly_issued_by(issuer)
        current = issuer
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier("2.16.840.1.113741.1.2.3") in list(usages), "activation EKU"


@pytest.mark.parametrize("legacy", [True, False])
def test_provisioning_pfx_is_accepted(legacy: bool) -> None:
    chain = make_provisioning_chain("vprodemo.com")
    pfx = chain.pfx("P@ssw0rd", legacy_encryption=legacy)
    domains_api_accepts(base64.b64encode(pfx).decode(), "P@ssw0rd", "vprodemo.com")
    loaded = pkcs12.load_pkcs12(pfx, b"P@ssw0rd")
    order = [loaded.cert.certificate] + [entry.certificate for entry in loaded.additional_certs]
    assert order == chain.certificates  # leaf, intermediate, root
    assert chain.root_sha256 == hashlib.sha256(chain.root.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_a_chain_without_the_oid_is_rejected_by_the_same_checks() -> None:
    chain = make_provisioning_chain("vprodemo.com", with_provisioning_oid=False)
    with pytest.raises(AssertionError, match="activation EKU"):
        domains_api_accepts(base64.b64encode(chain.pfx("pw")).decode(), "pw", "vprodemo.com")


def test_cli_writes_pfx_and_prints_root_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["pki", "make-provisioning-pfx", "--out", str(tmp_path), "--domain-suffix", "corp.example", "--password", "pw"]
    )
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    assert printed == (tmp_path / "root.sha256").read_text().strip()
    domains_api_accepts((tmp_path / "provisioning.pfx.b64").read_text().strip(), "pw", "corp.example")
    root = x509.load_pem_x509_certificate((tmp_path / "root.pem").read_bytes())
    assert hashlib.sha256(root.public_bytes(serialization.Encoding.DER)).hexdigest() == printed


def test_device_tls_identity_chains_to_the_on_die_ca_stand_in() -> None:
    on_die_ca = make_on_die_ca()
    identity = on_die_ca.issue_device_tls_identity("4c4c4544-0046-3610-8052-b5c04f4c5032")
    leaf, intermediate = identity.certificates
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(on_die_ca.root)
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
