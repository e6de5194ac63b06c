"""PKCS#10 the way the Enterprise Assistant and AMT pass it around (enterprise-assistant.md §11.3):

* the EA builds a **null-signed** request from AMT's public key (it holds no private key, so the
  `cryptography` CSR builder cannot do it): the CertificationRequestInfo with a zero signature;
* AMT (`GeneratePKCS10RequestEx`) signs that CertificationRequestInfo, as is, with the key pair
  it generated, SHA-256.

A few lines of DER do both; nothing else in amtsim needs an ASN.1 library.
"""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
SEQUENCE, BIT_STRING, INTEGER, OID, NULL = 0x30, 0x03, 0x02, 0x06, 0x05
EMPTY_ATTRIBUTES = b"\xa0\x00"  # [0] IMPLICIT SET OF Attribute, empty


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for arc in rest:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(OID, bytes(body))


def _sequence_items(der: bytes) -> list[bytes]:
    """The encoded elements inside one DER SEQUENCE. Raises ValueError on anything else."""
    if len(der) < 2 or der[0] != SEQUENCE:
        raise ValueError("not a DER SEQUENCE")
    content, end = _content_span(der, 0)
    if end != len(der):
        raise ValueError("trailing bytes after the SEQUENCE")
    items, offset = [], content
    while offset < end:
        _, item_end = _content_span(der, offset)
        items.append(der[offset:item_end])
        offset = item_end
    if offset != end:
        raise ValueError("an element runs past its SEQUENCE")
    return items


def _content_span(der: bytes, offset: int) -> tuple[int, int]:
    """(start of content, end of element) of the element at `offset`."""
    if offset + 2 > len(der):
        raise ValueError("truncated DER")
    first = der[offset + 1]
    if first < 0x80:
        start, size = offset + 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + 2 + count > len(der):
            raise ValueError("unsupported DER length")
        start, size = offset + 2 + count, int.from_bytes(der[offset + 2 : offset + 2 + count], "big")
    if start + size > len(der):
        raise ValueError("truncated DER")
    return start, start + size


def _signed_request(request_info: bytes, signature: bytes) -> bytes:
    algorithm = _tlv(SEQUENCE, _oid(SHA256_WITH_RSA) + _tlv(NULL, b""))
    return _tlv(SEQUENCE, request_info + algorithm + _tlv(BIT_STRING, b"\x00" + signature))


def rsa_public_key_from_pkcs1(der: bytes) -> rsa.RSAPublicKey:
    """AMT's `DERKey` (a PKCS#1 RSAPublicKey) as a key object."""
    pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def null_signed_request(public_key: rsa.RSAPublicKey, subject: x509.Name) -> bytes:
    """DER PKCS#10 for `public_key` and `subject`, with a signature of zero bytes."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    request_info = _tlv(SEQUENCE, _tlv(INTEGER, b"\x00") + subject.public_bytes() + spki + EMPTY_ATTRIBUTES)
    return _signed_request(request_info, bytes(public_key.key_size // 8))


def sign_request_info(request: bytes, private_key: rsa.RSAPrivateKey) -> bytes:
    """What GeneratePKCS10RequestEx returns: the request's CertificationRequestInfo, unchanged,
    signed with `private_key` (RSA PKCS#1 v1.5, SHA-256). Raises ValueError when the request is
    not a PKCS#10 or names another public key."""
    request_info = _sequence_items(request)[0]
    fields = _sequence_items(request_info)
    if len(fields) < 3:
        raise ValueError("not a CertificationRequestInfo")
    own_key = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if fields[2] != own_key:
        raise ValueError("the request is for another public key")
    return _signed_request(request_info, private_key.sign(request_info, padding.PKCS1v15(), hashes.SHA256()))
