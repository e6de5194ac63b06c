"""What opening a PKCS#12 (PFX) file will cost, found out before anything costly runs.

`cryptography`'s `load_pkcs12` runs every key derivation the file asks for with the iteration
count the file names, up to 2^31-1: the MAC's, each encrypted content's, and each shrouded key's
(about four minutes of CPU for one upload). So before calling it, `inspect` walks the file's
ASN.1 (RFC 7292) itself and refuses it when any derivation, or all of them together, would cost
more than the limits below; only then may `cryptography` open it.

A shrouded key can hide inside an encrypted content, where its parameters cannot be read without
the password. So, within the limits already checked, `inspect` verifies the MAC (which tells a
wrong password from a damaged file) and decrypts each encrypted content to check what it holds.
The KDFs and ciphers are RFC 7292 Appendix B/C (PKCS#12 PBE) and RFC 8018 (PBES2 with PBKDF2,
PBMAC1); scrypt and other KDFs are refused, since their cost has more dimensions than a count.

Limits (each chosen so every PFX that Windows, OpenSSL 1.x/3.x and Java keytool write passes;
OpenSSL uses 2048 iterations, Windows 2000, Java up to 50,000, and 100,000 for its MAC). A
derivation's work is its iteration count times the hash outputs it derives (3DES: two for the
key, one for the IV):
- `MAX_PFX_BYTES`: the decoded file;
- `MAX_ITERATIONS`: one derivation's iteration count;
- `MAX_DERIVATION_WORK`: the work of every derivation together (what `cryptography` runs);
- `MAX_INSPECTION_WORK`: the work of the encrypted contents' derivations, which the inspection
  runs itself, partly in Python, to see inside them.
`bench/pfx_bench.py` measures the CPU time these allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from profiles.ber import (
    CONTEXT_0,
    CONTEXT_0_PRIMITIVE,
    SEQUENCE,
    BerError,
    Element,
    expect,
    explicit,
    integer,
    object_identifier,
    octets,
    read_first,
)
from profiles.pkcs12_schemes import (
    Derivation,
    Encryption,
    LimitExceeded,
    Mac,
    NotPkcs12,
    Unsupported,
    WrongPassword,
    encryption,
    mac,
)

MAX_PFX_BYTES = 64 * 1024
MAX_ITERATIONS = 100_000
MAX_DERIVATION_WORK = 400_000
MAX_INSPECTION_WORK = 150_000
MAX_BAG_NESTING = 4

DATA = "1.2.840.113549.1.7.1"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
SAFE_CONTENTS_BAG = "1.2.840.113549.1.12.10.1.6"


def check_limits(derivations: list[Derivation]) -> None:
    for derivation in derivations:
        if derivation.iterations > MAX_ITERATIONS:
            raise LimitExceeded(
                f"the PFX asks for {derivation.iterations} key-derivation iterations in {derivation.where}; "
                f"the limit is {MAX_ITERATIONS}"
            )
    total = sum(derivation.work for derivation in derivations)
    if total > MAX_DERIVATION_WORK:
        raise LimitExceeded(
            f"the PFX asks for {total} key-derivation rounds in all; the limit is {MAX_DERIVATION_WORK}"
        )
    inspected = sum(derivation.work for derivation in derivations if derivation.inspected)
    if inspected > MAX_INSPECTION_WORK:
        raise LimitExceeded(
            f"the PFX asks for {inspected} key-derivation rounds to open its encrypted contents; "
            f"the limit is {MAX_INSPECTION_WORK}"
        )


# --- the file --------------------------------------------------------------------------------------


@dataclass
class Contents:
    """What the walk found: derivations to run, and encrypted contents still to open."""

    derivations: list[Derivation] = field(default_factory=list)
    encrypted: list[tuple[Encryption, bytes]] = field(default_factory=list)
    shrouded_keys: int = 0


def _safe_contents(contents: Element, found: Contents, nesting: int = 0) -> None:
    if nesting > MAX_BAG_NESTING:
        raise BerError(f"bags nested more than {MAX_BAG_NESTING} deep")
    for bag in expect(contents, SEQUENCE, "SafeContents").children():
        parts = expect(bag, SEQUENCE, "SafeBag").children()
        if len(parts) < 2:
            raise BerError("SafeBag")
        kind = object_identifier(parts[0], "bag type")
        value = explicit(parts[1], CONTEXT_0, "bag value")
        if kind == SHROUDED_KEY_BAG:
            found.shrouded_keys += 1
            key_info = expect(value, SEQUENCE, "EncryptedPrivateKeyInfo").children()
            if len(key_info) != 2:
                raise BerError("EncryptedPrivateKeyInfo")
            found.derivations += encryption(key_info[0], f"shrouded key {found.shrouded_keys}").derivations
        elif kind == SAFE_CONTENTS_BAG:
            _safe_contents(value, found, nesting + 1)


@dataclass(frozen=True)
class Inspection:
    """A PFX whose every key derivation is known and within the limits."""

    derivations: list[Derivation]
    mac: Mac | None
    authenticated: bytes

    @property
    def work(self) -> int:
        return sum(derivation.work for derivation in self.derivations)

    def password_is_wrong(self, password: str) -> bool:
        """The MAC refutes `password` (False when there is no MAC to ask)."""
        return self.mac is not None and not self.mac.verify(password, self.authenticated)


def inspect(der: bytes, password: str) -> Inspection:
    """Refuse a PFX that is malformed, would cost too much to open, or whose password is wrong.

    Raises `NotPkcs12`, `LimitExceeded`, `Unsupported` or `WrongPassword`; no derivation runs
    before every derivation visible without the password has been checked against the limits.
    The MAC is left to the reader, except to tell why an encrypted content does not decrypt.
    """
    if len(der) > MAX_PFX_BYTES:
        raise LimitExceeded(f"the PFX is {len(der)} bytes; the limit is {MAX_PFX_BYTES}")
    try:
        return _inspect(der, password)
    except BerError as malformed:
        raise NotPkcs12(f"the file is not a PKCS#12 (PFX) structure: {malformed}") from None


def _inspect(der: bytes, password: str) -> Inspection:
    parts = expect(read_first(der), SEQUENCE, "PFX").children()
    if len(parts) not in (2, 3) or integer(parts[0], "PFX version") != 3:
        raise BerError("not a PFX version 3")
    content_info = expect(parts[1], SEQUENCE, "authSafe").children()
    if len(content_info) != 2 or object_identifier(content_info[0], "authSafe type") != DATA:
        raise Unsupported("the PFX is protected by a public key instead of a password")
    authenticated = octets(explicit(content_info[1], CONTEXT_0, "authSafe content"), "authSafe content")
    integrity = mac(parts[2]) if len(parts) == 3 else None

    found = Contents(derivations=list(integrity.derivations) if integrity else [])
    for number, content in enumerate(expect(read_first(authenticated), SEQUENCE, "AuthenticatedSafe").children(), 1):
        kind_and_value = expect(content, SEQUENCE, "ContentInfo").children()
        if len(kind_and_value) != 2:
            raise BerError("ContentInfo without content")
        kind = object_identifier(kind_and_value[0], "content type")
        value = explicit(kind_and_value[1], CONTEXT_0, "content")
        if kind == DATA:
            _safe_contents(read_first(octets(value, "data content")), found)
        elif kind == ENCRYPTED_DATA:
            encrypted = expect(value, SEQUENCE, "EncryptedData").children()
            if len(encrypted) < 2:
                raise BerError("EncryptedData")
            info = expect(encrypted[1], SEQUENCE, "EncryptedContentInfo").children()
            if len(info) != 3 or info[2].tag not in (CONTEXT_0, CONTEXT_0_PRIMITIVE):
                raise BerError("EncryptedContentInfo")
            scheme = encryption(info[1], f"encrypted content {number}")
            found.derivations += [replace(derivation, inspected=True) for derivation in scheme.derivations]
            found.encrypted.append((scheme, octets(info[2], "encrypted content")))
        else:
            raise Unsupported(f"the PFX holds content of type {kind}, which is encrypted to a public key")
    check_limits(found.derivations)

    inspection = Inspection(derivations=found.derivations, mac=integrity, authenticated=authenticated)
    for scheme, ciphertext in found.encrypted:
        try:
            _safe_contents(read_first(scheme.decrypt(password, ciphertext)), found)
        except (ValueError, BerError):
            if integrity is None or inspection.password_is_wrong(password):
                raise WrongPassword(f"the PFX password is wrong ({scheme.where} does not decrypt with it)") from None
            raise NotPkcs12(f"{scheme.where} of the PFX is damaged") from None
    check_limits(found.derivations)
    return inspection
