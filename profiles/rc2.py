"""RC2-CBC decryption (RFC 2268), for the 40-bit RC2 that OpenSSL 1.x and Windows used for the
certificates inside PKCS#12 files.

`cryptography` offers RC2 with 128-bit keys only, and reading such a file's certificates is the
one place we need RC2 at all (profiles.pkcs12_schemes), so this is the RFC's algorithm as
written: no speed matters for a few kilobytes.
"""

from __future__ import annotations

PITABLE = bytes.fromhex(
    "d978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2"
    "179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82"
    "54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626"
    "6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7"
    "08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec"
    "c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731"
    "2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9"
    "0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad"
)
MASK16 = 0xFFFF
BLOCK = 8


def expand_key(key: bytes, effective_bits: int) -> list[int]:
    """RFC 2268 §2: the 64 16-bit subkeys for `key` with `effective_bits` effective key bits."""
    table = bytearray(128)
    table[: len(key)] = key
    for position in range(len(key), 128):
        table[position] = PITABLE[(table[position - 1] + table[position - len(key)]) % 256]
    length = (effective_bits + 7) // 8
    mask = 0xFF >> (8 * length - effective_bits)
    table[128 - length] = PITABLE[table[128 - length] & mask]
    for position in range(127 - length, -1, -1):
        table[position] = PITABLE[table[position + 1] ^ table[position + length]]
    return [table[2 * index] | (table[2 * index + 1] << 8) for index in range(64)]


def _rotate_right(word: int, count: int) -> int:
    return ((word >> count) | (word << (16 - count))) & MASK16


def decrypt_block(subkeys: list[int], block: bytes) -> bytes:
    """RFC 2268 §4: r-mixing and r-mashing rounds undone, in reverse order."""
    words = [block[2 * index] | (block[2 * index + 1] << 8) for index in range(4)]
    key_index = 63
    for round_number in range(16, 0, -1):
        for i in (3, 2, 1, 0):
            words[i] = _rotate_right(words[i], (1, 2, 3, 5)[i])
            words[i] = (
                words[i] - subkeys[key_index] - (words[(i - 1) % 4] & words[(i - 2) % 4])
                - ((~words[(i - 1) % 4]) & words[(i - 3) % 4])
            ) & MASK16  # fmt: skip
            key_index -= 1
        if round_number in (12, 6):  # the inverse of the mashing rounds after rounds 5 and 11
            for i in (3, 2, 1, 0):
                words[i] = (words[i] - subkeys[words[(i - 1) % 4] & 63]) & MASK16
    return b"".join(word.to_bytes(2, "little") for word in words)


def decrypt_cbc(key: bytes, effective_bits: int, iv: bytes, ciphertext: bytes) -> bytes:
    """CBC decryption without unpadding; `ciphertext` must be whole blocks."""
    if len(iv) != BLOCK or len(ciphertext) % BLOCK:
        raise ValueError("RC2-CBC needs an 8-byte IV and whole 8-byte blocks")
    subkeys = expand_key(key, effective_bits)
    plain = bytearray()
    previous = iv
    for offset in range(0, len(ciphertext), BLOCK):
        block = ciphertext[offset : offset + BLOCK]
        plain += bytes(a ^ b for a, b in zip(decrypt_block(subkeys, block), previous, strict=True))
        previous = block
    return bytes(plain)
