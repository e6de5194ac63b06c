"""The password-based algorithms a PKCS#12 (PFX) file names, each as what it would cost and what
it does: the PKCS#12 KDF and PBE (RFC 7292 Appendix B/C), PBES2 with PBKDF2 and PBMAC1 (RFC 8018,
RFC 9579), and the MAC. Parsing one gives its `Derivation`s (iterations x hash outputs) before
anything runs; `profiles.pkcs12_inspection` checks those against its limits first.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4, TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from profiles import rc2
from profiles.ber import NULL, OCTET_STRING, SEQUENCE, BerError, Element, expect, integer, object_identifier, octets

PBES2 = "1.2.840.113549.1.5.13"
PBKDF2 = "1.2.840.113549.1.5.12"
PBMAC1 = "1.2.840.113549.1.5.14"

# digest OID -> hashlib name (the MAC's digest, and the hash of the PKCS#12 KDF)
DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
# PBKDF2 PRF OID -> hashlib name
HMAC_PRFS = {
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.8": "sha224",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
CRYPTOGRAPHY_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),  # noqa: S303 - PKCS#12 files are made with SHA-1; reading them needs it
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
# RFC 7292 Appendix C: OID -> (cipher, key bytes)
PKCS12_PBE = {
    "1.2.840.113549.1.12.1.1": ("rc4", 16),
    "1.2.840.113549.1.12.1.2": ("rc4", 5),
    "1.2.840.113549.1.12.1.3": ("3des", 24),
    "1.2.840.113549.1.12.1.4": ("3des", 16),
    "1.2.840.113549.1.12.1.5": ("rc2", 16),
    "1.2.840.113549.1.12.1.6": ("rc2", 5),
}
# PBES2 encryption schemes: OID -> (cipher, key bytes)
PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": ("aes", 16),
    "2.16.840.1.101.3.4.1.22": ("aes", 24),
    "2.16.840.1.101.3.4.1.42": ("aes", 32),
    "1.2.840.113549.3.7": ("3des", 24),
}


class Pkcs12Problem(Exception):
    """Why a PKCS#12 file is refused; the text names the cause and never holds the password."""


class NotPkcs12(Pkcs12Problem):
    pass


class WrongPassword(Pkcs12Problem):
    pass


class LimitExceeded(Pkcs12Problem):
    pass


class Unsupported(Pkcs12Problem):
    pass


def _blocks(length: int, digest: str) -> int:
    return -(-length // hashlib.new(digest).digest_size)


@dataclass(frozen=True)
class Derivation:
    """One key derivation a reader of the file has to run."""

    where: str
    iterations: int
    blocks: int  # hash outputs derived, each costing `iterations` rounds
    inspected: bool = False  # run by the inspection itself, to open an encrypted content

    @property
    def work(self) -> int:
        return self.iterations * self.blocks


def _iterations(element: Element, where: str) -> int:
    count = integer(element, f"iteration count of {where}")
    if count < 1:
        raise BerError(f"iteration count of {where} is {count}")
    return count


def _algorithm(element: Element, what: str) -> tuple[str, Element | None]:
    parts = expect(element, SEQUENCE, what).children()
    if not parts or len(parts) > 2:
        raise BerError(f"{what}: not an algorithm identifier")
    return object_identifier(parts[0], what), parts[1] if len(parts) == 2 else None


# --- key derivation --------------------------------------------------------------------------------


def pkcs12_kdf(digest: str, password: str, salt: bytes, purpose: int, iterations: int, length: int) -> bytes:
    """RFC 7292 Appendix B.2 (purpose 1: key, 2: IV, 3: MAC key); the password as BMPString."""
    hasher = getattr(hashlib, digest)
    size, block = hasher().digest_size, hasher().block_size

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        wanted = block * -(-len(data) // block)
        return (data * -(-wanted // len(data)))[:wanted]

    material = bytearray(stretch(salt) + stretch(password.encode("utf-16-be") + b"\x00\x00"))
    diversifier = bytes([purpose]) * block
    derived = b""
    while True:
        output = hasher(diversifier + material).digest()
        for _ in range(iterations - 1):
            output = hasher(output).digest()
        derived += output
        if len(derived) >= length:
            return derived[:length]
        increment = int.from_bytes((output * -(-block // size))[:block], "big") + 1
        for offset in range(0, len(material), block):
            chunk = (int.from_bytes(material[offset : offset + block], "big") + increment) % (1 << (8 * block))
            material[offset : offset + block] = chunk.to_bytes(block, "big")


@dataclass(frozen=True)
class Pbkdf2:
    digest: str
    salt: bytes
    iterations: int
    length: int | None

    def derivation(self, where: str, length: int) -> Derivation:
        return Derivation(where, self.iterations, _blocks(self.length or length, self.digest))

    def derive(self, password: str, length: int) -> bytes:
        kdf = PBKDF2HMAC(CRYPTOGRAPHY_HASHES[self.digest], self.length or length, self.salt, self.iterations)
        return kdf.derive(password.encode("utf-8"))


def _pbkdf2(element: Element | None, where: str) -> Pbkdf2:
    if element is None:
        raise BerError(f"{where}: key derivation without parameters")
    kdf, parameters = _algorithm(element, f"key derivation of {where}")
    if kdf != PBKDF2:
        raise Unsupported(f"the PFX uses key derivation {kdf} in {where}; only PBKDF2 is accepted")
    if parameters is None:
        raise BerError(f"{where}: PBKDF2 without parameters")
    parts = expect(parameters, SEQUENCE, "PBKDF2 parameters").children()
    if len(parts) < 2:
        raise BerError(f"{where}: incomplete PBKDF2 parameters")
    salt = octets(expect(parts[0], OCTET_STRING, "PBKDF2 salt"), "PBKDF2 salt")
    iterations = _iterations(parts[1], where)
    rest = parts[2:]
    length = None
    if rest and rest[0].tag == 0x02:
        length = integer(rest.pop(0), "PBKDF2 key length")
        if not 1 <= length <= 1024:
            raise BerError(f"{where}: PBKDF2 key length {length}")
    digest = "sha1"
    if rest:
        prf, _ = _algorithm(rest[0], "PBKDF2 PRF")
        if prf not in HMAC_PRFS:
            raise Unsupported(f"the PFX uses PBKDF2 PRF {prf} in {where}")
        digest = HMAC_PRFS[prf]
    return Pbkdf2(digest, salt, iterations, length)


# --- encryption schemes ---------------------------------------------------------------------------


def _decrypt(algorithm: CipherAlgorithm, iv: bytes | None, ciphertext: bytes) -> bytes:
    mode = modes.CBC(iv) if iv is not None else None
    decryptor = Cipher(algorithm, mode).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def _unpad(plain: bytes) -> bytes:
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 16 or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding")
    return plain[:-pad]


@dataclass(frozen=True)
class Encryption:
    """A password-based encryption scheme from an AlgorithmIdentifier, ready to account or run."""

    where: str
    derivations: list[Derivation]
    decrypt: Callable[[str, bytes], bytes]  # (password, ciphertext) -> plaintext; ValueError on failure


def _pkcs12_pbe(oid: str, parameters: Element | None, where: str) -> Encryption:
    cipher, key_length = PKCS12_PBE[oid]
    if parameters is None:
        raise BerError(f"{where}: PBE without parameters")
    parts = expect(parameters, SEQUENCE, "PBE parameters").children()
    if len(parts) != 2:
        raise BerError(f"{where}: PBE parameters")
    salt = octets(expect(parts[0], OCTET_STRING, "PBE salt"), "PBE salt")
    iterations = _iterations(parts[1], where)
    blocks = _blocks(key_length, "sha1") + (0 if cipher == "rc4" else 1)

    def run(password: str, ciphertext: bytes) -> bytes:
        key = pkcs12_kdf("sha1", password, salt, 1, iterations, key_length)
        if cipher == "rc4":
            return _decrypt(ARC4(key), None, ciphertext)
        iv = pkcs12_kdf("sha1", password, salt, 2, iterations, 8)
        if cipher == "rc2":
            return _unpad(rc2.decrypt_cbc(key, 8 * key_length, iv, ciphertext))
        return _unpad(_decrypt(TripleDES(key), iv, ciphertext))

    return Encryption(where, [Derivation(where, iterations, blocks)], run)


def _pbes2(parameters: Element | None, where: str) -> Encryption:
    if parameters is None:
        raise BerError(f"{where}: PBES2 without parameters")
    parts = expect(parameters, SEQUENCE, "PBES2 parameters").children()
    if len(parts) != 2:
        raise BerError(f"{where}: PBES2 parameters")
    kdf = _pbkdf2(parts[0], where)
    scheme, scheme_parameters = _algorithm(parts[1], "PBES2 encryption scheme")
    if scheme not in PBES2_CIPHERS:
        raise Unsupported(f"the PFX uses cipher {scheme} in {where}")
    cipher, key_length = PBES2_CIPHERS[scheme]
    if scheme_parameters is None:
        raise BerError(f"{where}: cipher without an IV")
    iv = octets(expect(scheme_parameters, OCTET_STRING, "IV"), "IV")
    if len(iv) != (16 if cipher == "aes" else 8) or (kdf.length not in (None, key_length)):
        raise BerError(f"{where}: IV or key length does not fit the cipher")

    def run(password: str, ciphertext: bytes) -> bytes:
        key = kdf.derive(password, key_length)
        algorithm = algorithms.AES(key) if cipher == "aes" else TripleDES(key)
        return _unpad(_decrypt(algorithm, iv, ciphertext))

    return Encryption(where, [kdf.derivation(where, key_length)], run)


def encryption(element: Element, where: str) -> Encryption:
    oid, parameters = _algorithm(element, f"encryption of {where}")
    if oid in PKCS12_PBE:
        return _pkcs12_pbe(oid, parameters, where)
    if oid == PBES2:
        return _pbes2(parameters, where)
    raise Unsupported(f"the PFX uses encryption {oid} in {where}, which RPS does not accept")


# --- the MAC ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mac:
    derivations: list[Derivation]
    verify: Callable[[str, bytes], bool]  # (password, authenticated content) -> the MAC matches


def mac(element: Element) -> Mac:
    parts = expect(element, SEQUENCE, "MacData").children()
    if len(parts) not in (2, 3):
        raise BerError("MacData")
    digest_info = expect(parts[0], SEQUENCE, "DigestInfo").children()
    if len(digest_info) != 2:
        raise BerError("DigestInfo")
    algorithm, parameters = _algorithm(digest_info[0], "MAC algorithm")
    expected = octets(expect(digest_info[1], OCTET_STRING, "MAC"), "MAC")
    salt = octets(expect(parts[1], OCTET_STRING, "MAC salt"), "MAC salt")
    iterations = _iterations(parts[2], "the MAC") if len(parts) == 3 else 1
    if algorithm == PBMAC1:  # RFC 9579: the PBKDF2 parameters inside count, not MacData's
        if parameters is None:
            raise BerError("PBMAC1 without parameters")
        pbmac = expect(parameters, SEQUENCE, "PBMAC1 parameters").children()
        if len(pbmac) != 2:
            raise BerError("PBMAC1 parameters")
        kdf = _pbkdf2(pbmac[0], "the MAC")
        scheme, _ = _algorithm(pbmac[1], "PBMAC1 scheme")
        if scheme not in HMAC_PRFS or kdf.length is None:
            raise Unsupported(f"the PFX uses MAC scheme {scheme}")
        digest, key_length = HMAC_PRFS[scheme], kdf.length

        def verify_pbmac1(password: str, content: bytes) -> bool:
            key = kdf.derive(password, key_length)
            return hmac.compare_digest(hmac.digest(key, content, digest), expected)

        return Mac([kdf.derivation("the MAC", key_length)], verify_pbmac1)
    if algorithm not in DIGESTS or (parameters is not None and parameters.tag != NULL):
        raise Unsupported(f"the PFX uses MAC digest {algorithm}")
    hmac_digest = DIGESTS[algorithm]

    def verify(password: str, content: bytes) -> bool:
        size = hashlib.new(hmac_digest).digest_size
        key = pkcs12_kdf(hmac_digest, password, salt, 3, iterations, size)
        return hmac.compare_digest(hmac.digest(key, content, hmac_digest), expected)

    return Mac([Derivation("the MAC", iterations, 1)], verify)
