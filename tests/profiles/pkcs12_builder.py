"""Hand-built PKCS#12 files for the limits tests: any iteration count, KDF or nesting, in any
place, without running the derivations they name (a 2^31-1 count would take minutes to make).

The MAC of a built file is computed with the inspection's own KDF (profiles.pkcs12_inspection),
which tests/profiles/test_pfx_limits.py checks against files made by `cryptography` and OpenSSL.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.padding import PKCS7
from cryptography.hazmat.primitives.serialization import pkcs12

from profiles.pkcs12_inspection import DATA, ENCRYPTED_DATA, SAFE_CONTENTS_BAG, SHROUDED_KEY_BAG
from profiles.pkcs12_schemes import PBES2, PBKDF2, pkcs12_kdf

SHA256 = "2.16.840.1.101.3.4.2.1"
HMAC_SHA256 = "1.2.840.113549.2.9"
AES256_CBC = "2.16.840.1.101.3.4.1.42"
SCRYPT = "1.3.6.1.4.1.11591.4.11"
CERT_BAG = "1.2.840.113549.1.12.10.1.3"
X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"


def tlv(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    if len(content) < 0x80:
        return bytes([tag, len(content)]) + content
    size = (len(content).bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + len(content).to_bytes(size, "big") + content


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, *parts)


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True))


def octet_string(value: bytes) -> bytes:
    return tlv(0x04, value)


def explicit0(inner: bytes) -> bytes:
    return tlv(0xA0, inner)


def oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.insert(0, 0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(chunk)
    return tlv(0x06, bytes(body))


def pbkdf2_parameters(iterations: int, salt: bytes = b"saltsalt") -> bytes:
    return sequence(
        oid(PBKDF2), sequence(octet_string(salt), integer(iterations), sequence(oid(HMAC_SHA256), tlv(0x05)))
    )


def pbes2(iterations: int, iv: bytes = b"\x00" * 16, kdf: bytes | None = None) -> bytes:
    return sequence(
        oid(PBES2),
        sequence(kdf or pbkdf2_parameters(iterations), sequence(oid(AES256_CBC), octet_string(iv))),
    )


def shrouded_key_bag(iterations: int, *, kdf: bytes | None = None) -> bytes:
    """A key bag whose key never decrypts: only its parameters matter to the limits."""
    encrypted_key = sequence(pbes2(iterations, kdf=kdf), octet_string(os.urandom(64)))
    return sequence(oid(SHROUDED_KEY_BAG), explicit0(encrypted_key))


def cert_bag(certificate_der: bytes) -> bytes:
    return sequence(oid(CERT_BAG), explicit0(sequence(oid(X509_CERTIFICATE), explicit0(octet_string(certificate_der)))))


def nested_bag(*bags: bytes) -> bytes:
    return sequence(oid(SAFE_CONTENTS_BAG), explicit0(sequence(*bags)))


def data_content(*bags: bytes) -> bytes:
    return sequence(oid(DATA), explicit0(octet_string(sequence(*bags))))


def encrypted_content(password: str, *bags: bytes, iterations: int = 2048, damaged: bool = False) -> bytes:
    """Bags inside an EncryptedData that really decrypts (PBES2, PBKDF2-SHA256, AES-256-CBC),
    unless `damaged` cuts its ciphertext short."""
    salt, iv = os.urandom(8), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(password.encode())
    padder = PKCS7(128).padder()
    plain = padder.update(sequence(*bags)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    if damaged:
        ciphertext = ciphertext[:-1]
    info = sequence(oid(DATA), pbes2(iterations, iv, pbkdf2_parameters(iterations, salt)), tlv(0x80, ciphertext))
    return sequence(oid(ENCRYPTED_DATA), explicit0(sequence(integer(0), info)))


def pfx(password: str, *contents: bytes, mac_iterations: int | None = 2048) -> bytes:
    """A PFX of `contents`; its SHA-256 MAC is right when the count is small enough to compute."""
    authenticated = sequence(*contents)
    parts = [integer(3), sequence(oid(DATA), explicit0(octet_string(authenticated)))]
    if mac_iterations is not None:
        salt = os.urandom(8)
        if mac_iterations <= 100_000:
            key = pkcs12_kdf("sha256", password, salt, 3, mac_iterations, 32)
            digest = hmac.digest(key, authenticated, "sha256")
        else:
            digest = hashlib.sha256(b"never computed").digest()
        digest_info = sequence(sequence(oid(SHA256), tlv(0x05)), octet_string(digest))
        parts.append(sequence(digest_info, octet_string(salt), integer(mac_iterations)))
    return sequence(*parts)


def made_by_cryptography(password: str, algorithm: pkcs12.PBES, rounds: int, mac: hashes.HashAlgorithm) -> bytes:
    """A PFX as a real tool writes one: a leaf certificate and its key, `rounds` iterations."""
    from tests.profiles.factories import certificate, rsa_key

    key = rsa_key(2048, 1)
    leaf = certificate(subject_cn="vpro.example.com", key=key)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(rounds)
        .key_cert_algorithm(algorithm)
        .hmac_hash(mac)
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(b"leaf", key, leaf, [leaf], encryption)
