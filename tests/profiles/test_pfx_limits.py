"""PKCS#12 files are opened within bounds (SECURITY.md check 23, issue #11 finding 2): size,
iterations per key derivation and in all, checked before any derivation runs, hidden ones too."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from profiles import pfx, rc2
from profiles.models import Domain
from profiles.pkcs12_inspection import MAX_DERIVATION_WORK, MAX_INSPECTION_WORK, MAX_ITERATIONS, MAX_PFX_BYTES, inspect
from profiles.pkcs12_schemes import LimitExceeded, NotPkcs12, Pkcs12Problem, Unsupported, WrongPassword
from rps_site.vault import SecretStore, domain_certificate_path
from tests.profiles import pkcs12_builder as build
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import PFX_PASSWORD, domain_body, provisioning_pfx

PASSWORD = "Bomb-Passw0rd"
BIGGEST = 2**31 - 1


def made_by_cryptography(algorithm: pkcs12.PBES, rounds: int, mac: hashes.HashAlgorithm) -> bytes:
    return build.made_by_cryptography(PASSWORD, algorithm, rounds, mac)


def refusal(der: bytes, password: str = PASSWORD) -> Pkcs12Problem:
    with pytest.raises(Pkcs12Problem) as problem:
        inspect(der, password)
    return problem.value


def test_an_iteration_count_over_the_limit_is_refused_naming_the_limit() -> None:
    over = made_by_cryptography(pkcs12.PBES.PBESv2SHA256AndAES256CBC, MAX_ITERATIONS + 1, hashes.SHA256())
    with pytest.raises(pfx.PfxRejected) as rejected:
        pfx.check_provisioning_certificate(base64.b64encode(over).decode(), PASSWORD, "example.com")
    assert str(rejected.value) == (
        f"Provisioning certificate refused: the PFX asks for {MAX_ITERATIONS + 1} key-derivation iterations "
        f"in encrypted content 1; the limit is {MAX_ITERATIONS}"
    )


@pytest.mark.parametrize(
    ("bomb", "where"),
    [
        pytest.param(lambda: build.pfx(PASSWORD, build.data_content(), mac_iterations=BIGGEST), "the MAC", id="mac"),
        pytest.param(
            lambda: build.pfx(PASSWORD, build.data_content(build.shrouded_key_bag(BIGGEST))),
            "shrouded key 1",
            id="visible-key",
        ),
        pytest.param(
            lambda: build.pfx(PASSWORD, build.encrypted_content(PASSWORD, build.shrouded_key_bag(BIGGEST))),
            "shrouded key 1",
            id="key-inside-encrypted-content",
        ),
        pytest.param(
            lambda: build.pfx(
                PASSWORD,
                build.encrypted_content(PASSWORD, build.nested_bag(build.nested_bag(build.shrouded_key_bag(BIGGEST)))),
                mac_iterations=None,
            ),
            "shrouded key 1",
            id="nested-inside-encrypted-content-without-mac",
        ),
    ],
)
def test_2_to_the_31_iterations_anywhere_are_refused_before_they_run(bomb: Any, where: str) -> None:
    problem = refusal(bomb())
    assert isinstance(problem, LimitExceeded)
    assert str(problem) == (
        f"the PFX asks for {BIGGEST} key-derivation iterations in {where}; the limit is {MAX_ITERATIONS}"
    )


def test_many_derivations_under_the_limit_are_refused_together() -> None:
    keys = [build.shrouded_key_bag(MAX_ITERATIONS) for _ in range(MAX_DERIVATION_WORK // MAX_ITERATIONS)]
    problem = refusal(build.pfx(PASSWORD, build.data_content(*keys)))
    assert isinstance(problem, LimitExceeded)
    total = MAX_DERIVATION_WORK + 2048
    assert str(problem) == f"the PFX asks for {total} key-derivation rounds in all; the limit is {MAX_DERIVATION_WORK}"


def test_opening_encrypted_contents_is_bounded_on_its_own() -> None:
    """The inspection opens encrypted contents itself (to see the keys inside): that work has its own cap."""
    half = MAX_INSPECTION_WORK // 2 + 1
    contents = [build.encrypted_content(PASSWORD, build.cert_bag(b"x"), iterations=half) for _ in range(2)]
    problem = refusal(build.pfx(PASSWORD, *contents))
    assert str(problem) == (
        f"the PFX asks for {2 * half} key-derivation rounds to open its encrypted contents; "
        f"the limit is {MAX_INSPECTION_WORK}"
    )


def test_size_is_bounded_before_decoding_and_after() -> None:
    problem = refusal(build.pfx(PASSWORD, build.data_content(build.cert_bag(b"\x00" * MAX_PFX_BYTES))))
    assert isinstance(problem, LimitExceeded) and f"the limit is {MAX_PFX_BYTES}" in str(problem)
    with pytest.raises(pfx.PfxRejected, match=r"^Provisioning certificate refused: it is \d+ characters of base64"):
        pfx.decrypt("A" * (pfx.MAX_BASE64_CHARACTERS + 1), PASSWORD)


def test_kdfs_without_a_single_cost_and_public_key_modes_are_refused() -> None:
    scrypt = build.sequence(build.oid(build.SCRYPT), build.sequence(build.octet_string(b"s"), build.integer(2**20)))
    problem = refusal(build.pfx(PASSWORD, build.data_content(build.shrouded_key_bag(1, kdf=scrypt))))
    assert isinstance(problem, Unsupported) and build.SCRYPT in str(problem)
    signed = build.sequence(build.integer(3), build.sequence(build.oid("1.2.840.113549.1.7.2"), build.explicit0(b"")))
    assert isinstance(refusal(signed), Unsupported)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x30\x80" * 40,  # indefinite lengths nested past the depth limit
        b"\x30\x84\xff\xff\xff\xff",  # a length far past the end
        b"-----BEGIN CERTIFICATE-----",
        build.sequence(build.integer(2)),
    ],
)
def test_what_is_not_a_pfx_says_so(garbage: bytes) -> None:
    assert isinstance(refusal(garbage), NotPkcs12)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_damaged_files_raise_only_named_refusals(data: st.DataObject) -> None:
    original = bytearray(base64.b64decode(provisioning_pfx()))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] = data.draw(st.integers(0, 255))
    with contextlib.suppress(Pkcs12Problem):
        inspect(bytes(original[: data.draw(st.integers(0, len(original)))]), PFX_PASSWORD)


def test_a_wrong_password_is_told_apart_from_damage() -> None:
    assert isinstance(refusal(base64.b64decode(provisioning_pfx()), "wrong"), WrongPassword)
    no_mac = build.pfx(PASSWORD, build.encrypted_content(PASSWORD, build.cert_bag(b"x")), mac_iterations=None)
    inspect(no_mac, PASSWORD)
    assert isinstance(refusal(no_mac, "wrong"), WrongPassword)
    damaged = build.pfx(PASSWORD, build.encrypted_content(PASSWORD, build.cert_bag(b"x"), damaged=True))
    problem = refusal(damaged)
    assert isinstance(problem, NotPkcs12) and str(problem) == "encrypted content 1 of the PFX is damaged"
    assert isinstance(refusal(damaged, "wrong"), WrongPassword)


@pytest.mark.parametrize(
    ("algorithm", "rounds", "mac"),
    [
        (pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, 2048, hashes.SHA1()),  # OpenSSL 1.x / Windows style
        (pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, 50_000, hashes.SHA1()),  # Java 8 keytool's count
        (pkcs12.PBES.PBESv2SHA256AndAES256CBC, 2048, hashes.SHA256()),  # OpenSSL 3
        (pkcs12.PBES.PBESv2SHA256AndAES256CBC, 10_000, hashes.SHA256()),  # Java 11+, Windows AES
        (pkcs12.PBES.PBESv2SHA256AndAES256CBC, MAX_ITERATIONS, hashes.SHA512()),
    ],
)
def test_files_real_tools_write_are_accepted_and_their_mac_checks_out(
    algorithm: pkcs12.PBES, rounds: int, mac: hashes.HashAlgorithm
) -> None:
    der = made_by_cryptography(algorithm, rounds, mac)
    inspection = inspect(der, PASSWORD)
    assert inspection.work <= MAX_DERIVATION_WORK
    assert inspection.password_is_wrong(PASSWORD) is False, "our PKCS#12 KDF agrees with OpenSSL's"
    assert inspection.password_is_wrong("Other-Passw0rd") is True
    assert pfx.decrypt(base64.b64encode(der).decode(), PASSWORD).certificates


def test_rc2_matches_rfc_2268() -> None:
    vectors = [
        ("0000000000000000", 63, "0000000000000000", "ebb773f993278eff"),
        ("ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"),
        ("3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"),
    ]
    for key, bits, plain, cipher in vectors:
        assert rc2.decrypt_block(rc2.expand_key(bytes.fromhex(key), bits), bytes.fromhex(cipher)).hex() == plain


# --- through the API: nothing is stored -----------------------------------------------------------


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def test_a_pfx_bomb_is_a_400_naming_the_limit_and_stores_nothing(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    bomb = build.pfx(PASSWORD, build.encrypted_content(PASSWORD, build.shrouded_key_bag(BIGGEST)))
    body = domain_body(name, provisioningCert=base64.b64encode(bomb).decode(), provisioningCertPassword=PASSWORD)
    response = api.post("/api/v1/admin/domains", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "type": "field",
            "msg": f"Provisioning certificate refused: the PFX asks for {BIGGEST} key-derivation iterations in "
            f"shrouded key 1; the limit is {MAX_ITERATIONS}",
            "path": "provisioningCert",
            "location": "body",
        }
    ]
    assert PASSWORD not in response.content.decode()
    assert not Domain.objects.filter(name=name).exists()
    assert vault.read(domain_certificate_path("", name)) is None


def test_a_pfx_bomb_in_a_patch_is_refused_too(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    created = api.post("/api/v1/admin/domains", domain_body(name), format="json").json()
    bomb = build.pfx(PFX_PASSWORD, build.data_content(), mac_iterations=BIGGEST)
    patch = {
        "profileName": name,
        "provisioningCert": base64.b64encode(bomb).decode(),
        "provisioningCertPassword": PFX_PASSWORD,
        "provisioningCertStorageFormat": "string",
        "version": created["version"],
    }
    response = api.patch("/api/v1/admin/domains", patch, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["message"].startswith("Provisioning certificate refused: the PFX asks for 2147483647")
    stored = vault.read(domain_certificate_path("", name))
    assert stored is not None and stored.values["CERT"].reveal() == provisioning_pfx()
