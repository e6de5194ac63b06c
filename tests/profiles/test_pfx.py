"""The provisioning-certificate checks of rest-api.md §2.1, in order, with upstream's texts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from profiles import pfx
from tests.profiles.factories import PFX_CN, PFX_PASSWORD, certificate, pfx_base64, provisioning_pfx, rsa_key
from tests.shared_reference import POSTMAN, require_reference

COLLECTION = POSTMAN / "rps.postman_collection.json"
NOW = dt.datetime.now(dt.UTC)


def rejected(pfx_text: str, *, password: str = PFX_PASSWORD, suffix: str = "example.com") -> str:
    with pytest.raises(pfx.PfxRejected) as failure:
        pfx.check_provisioning_certificate(pfx_text, password, suffix)
    return str(failure.value)


def chain(**leaf_options: object) -> tuple[object, list[object]]:
    root_key, leaf_key = rsa_key(2048, 0), rsa_key(2048, 1)
    root = certificate(subject_cn="Test Root CA", key=root_key, ca=True, amt_usage=False)
    leaf = certificate(subject_cn=PFX_CN, key=leaf_key, issuer_cn="Test Root CA", issuer_key=root_key, **leaf_options)
    return leaf_key, [leaf, root]


def test_a_valid_pfx_passes_and_expires_with_its_earliest_certificate() -> None:
    bundle = pfx.check_provisioning_certificate(provisioning_pfx(), PFX_PASSWORD, "vpro.example.com")
    assert [pfx.common_name(cert) for cert in bundle.certificates] == [PFX_CN, "Test Root CA"]
    assert bundle.expiration_date == min(cert.not_valid_after_utc for cert in bundle.certificates)


def test_1_each_reason_a_pfx_does_not_open_is_named() -> None:
    """Issue #12 item 4: not a PFX, wrong password and no private key are told apart."""
    assert rejected(provisioning_pfx(), password="wrong") == pfx.WRONG_PASSWORD
    assert rejected(provisioning_pfx(), password="\ud800") == pfx.WRONG_PASSWORD
    assert rejected("é" * 40) == pfx.NOT_BASE64
    assert rejected("not base64 at all!") == pfx.NOT_BASE64
    not_a_pfx = rejected(base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB").decode())
    assert not_a_pfx.startswith("Provisioning certificate is not a PKCS#12 (PFX) file: ")
    key, certificates = chain()
    assert rejected(pfx_base64(key=None, certificates=certificates)) == pfx.NO_PRIVATE_KEY
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_leaf = certificate(subject_cn=PFX_CN, key=ec_key)
    assert rejected(pfx_base64(key=ec_key, certificates=[ec_leaf, certificates[1]])) == pfx.NOT_AN_RSA_KEY


def test_1_non_rsa_certificates_cannot_be_parsed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    only = certificate(subject_cn=PFX_CN, key=key)
    assert rejected(pfx_base64(key=key, certificates=[only])) == pfx.NO_PARSABLE_CERTIFICATES


def test_2_common_name_and_suffix() -> None:
    key = rsa_key(2048, 1)
    nameless = certificate(subject_cn="", key=key)
    assert rejected(pfx_base64(key=key, certificates=[nameless])) == pfx.NO_COMMON_NAME
    assert rejected(provisioning_pfx(), suffix="example.org") == pfx.FQDN_MISMATCH
    assert rejected(provisioning_pfx(), suffix="com") == pfx.FQDN_MISMATCH  # compares as "undefined.com"
    pfx.check_provisioning_certificate(provisioning_pfx(), PFX_PASSWORD, " deep.sub.example.com ")


def test_3_validity_window() -> None:
    key, certificates = chain(not_before=NOW + dt.timedelta(days=2))
    message = rejected(pfx_base64(key=key, certificates=certificates))
    assert re.fullmatch(
        r"Uploaded certificate is not yet valid: notBefore date "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z is in the future",
        message,
    )
    key, certificates = chain(not_before=NOW - dt.timedelta(days=10), not_after=NOW - dt.timedelta(days=1))
    assert rejected(pfx_base64(key=key, certificates=certificates)) == pfx.EXPIRED


def test_4_a_root_is_required() -> None:
    root_key, leaf_key = rsa_key(2048, 0), rsa_key(2048, 1)
    leaf = certificate(subject_cn=PFX_CN, key=leaf_key, issuer_cn="Absent Root", issuer_key=root_key)
    assert rejected(pfx_base64(key=leaf_key, certificates=[leaf])) == pfx.NO_ROOT


def test_5_small_keys_are_refused() -> None:
    small = rsa_key(1024, 2)
    only = certificate(subject_cn=PFX_CN, key=small)
    assert rejected(pfx_base64(key=small, certificates=[only])) == (
        "Certificate key size 1024 bits is below the minimum required 2048 bits for AMT"
    )


def test_6_the_key_must_match_the_leaf() -> None:
    import base64

    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    _, certificates = chain()
    blob = pkcs12.serialize_key_and_certificates(
        b"d", rsa_key(2048, 3), None, certificates, BestAvailableEncryption(PFX_PASSWORD.encode())
    )
    assert rejected(base64.b64encode(blob).decode()) == pfx.KEY_MISMATCH


def test_7_the_chain_must_link_and_verify() -> None:
    root_key, leaf_key, other_key = rsa_key(2048, 0), rsa_key(2048, 1), rsa_key(2048, 3)
    root = certificate(subject_cn="Test Root CA", key=root_key, ca=True, amt_usage=False)
    orphan = certificate(subject_cn=PFX_CN, key=leaf_key, issuer_cn="Missing CA", issuer_key=other_key)
    assert rejected(pfx_base64(key=leaf_key, certificates=[orphan, root])) == pfx.BROKEN_CHAIN
    forged = certificate(subject_cn=PFX_CN, key=leaf_key, issuer_cn="Test Root CA", issuer_key=other_key)
    assert rejected(pfx_base64(key=leaf_key, certificates=[forged, root])).startswith(
        "Certificate chain signature verification failed: "
    )


def test_8_the_leaf_needs_the_amt_activation_usage() -> None:
    key, certificates = chain(amt_usage=False)
    assert rejected(pfx_base64(key=key, certificates=certificates)) == pfx.MISSING_AMT_OID


def test_no_message_contains_the_password() -> None:
    secret = "Very-Secret-Canary-9"
    assert secret not in rejected(provisioning_pfx(), password=secret)


def test_iso_milliseconds_matches_javascript() -> None:
    moment = dt.datetime(2033, 5, 3, 7, 11, 10, 123456, tzinfo=dt.UTC)
    assert pfx.iso_milliseconds(moment) == "2033-05-03T07:11:10.123Z"


def test_the_upstream_postman_certificates_in_bag_order() -> None:
    require_reference(POSTMAN)
    text = COLLECTION.read_text()
    certificates = {
        match.group(2)[:24]: match.group(2)
        for match in re.finditer(r'"provisioningCert(\\)?"\s*:\s*\\?"([A-Za-z0-9+/=]{1000,})', text)
    }
    bodies = json.loads(text)
    assert bodies
    new_domain = next(value for key, value in certificates.items() if key.startswith("MIIOeQIBAzCCDj8"))
    vprodemo = next(value for key, value in certificates.items() if key.startswith("MIIPHwIBAzCCDtUG"))
    expired = next(value for key, value in certificates.items() if key.startswith("MIIJ7wIBAzCCCaUG"))
    bundle = pfx.check_provisioning_certificate(new_domain, "Intel123!", "test.com")
    assert pfx.common_name(bundle.certificates[0]) == "test.test.com"
    assert pfx.iso_milliseconds(bundle.expiration_date) == "2033-05-24T15:48:38.000Z"
    bundle = pfx.check_provisioning_certificate(vprodemo, "P@ssw0rd", "vprodemo.com")
    assert pfx.common_name(bundle.certificates[0]) == "intel.vprodemo.com"
    assert pfx.iso_milliseconds(bundle.expiration_date) == "2033-05-03T07:11:10.000Z"
    assert rejected(expired, password="P@ssw0rd", suffix="vprodemo.com") == pfx.EXPIRED
    assert pfx.decrypt(expired, "P@ssw0rd").expiration_date.year == 2023
