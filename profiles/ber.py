"""A small, bounded reader of ASN.1 BER (and so DER), for looking inside PKCS#12 files.

Only what PKCS#12 uses: low tag numbers, definite lengths up to 4 octets, indefinite lengths on
constructed elements, and strings split into segments. Nesting is capped at `MAX_DEPTH`; every
malformation raises `BerError`, never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 24

INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30
SET = 0x31
CONSTRUCTED = 0x20
CONTEXT_0 = 0xA0  # [0], constructed (EXPLICIT, or IMPLICIT on a segmented string)
CONTEXT_0_PRIMITIVE = 0x80  # [0] IMPLICIT on a primitive string
CONTEXT_1 = 0xA1


class BerError(ValueError):
    """The bytes are not the ASN.1 structure expected; the text says where."""


@dataclass(frozen=True)
class Element:
    tag: int
    value: bytes  # the contents octets
    depth: int

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def children(self) -> list[Element]:
        if not self.constructed:
            raise BerError(f"element with tag 0x{self.tag:02x} has no inner elements")
        return read_all(self.value, depth=self.depth + 1)


def _header(data: bytes, position: int) -> tuple[int, int | None, int]:
    """(tag, length or None when indefinite, where the contents start)."""
    if position + 2 > len(data):
        raise BerError("truncated element header")
    tag = data[position]
    if tag & 0x1F == 0x1F:
        raise BerError("high tag numbers are not used here")
    first = data[position + 1]
    position += 2
    if first < 0x80:
        return tag, first, position
    if first == 0x80:
        return tag, None, position
    octets = first & 0x7F
    if octets > 4 or position + octets > len(data):
        raise BerError("invalid length")
    return tag, int.from_bytes(data[position : position + octets], "big"), position + octets


def _element(data: bytes, position: int, depth: int) -> tuple[Element, int]:
    if depth > MAX_DEPTH:
        raise BerError(f"nested more than {MAX_DEPTH} levels deep")
    tag, length, start = _header(data, position)
    if length is not None:
        end = start + length
        if end > len(data):
            raise BerError("element runs past the end of its container")
        return Element(tag, data[start:end], depth), end
    if not tag & CONSTRUCTED:
        raise BerError("indefinite length on a primitive element")
    cursor = start
    while data[cursor : cursor + 2] != b"\x00\x00":
        if cursor >= len(data):
            raise BerError("indefinite-length element without an end")
        _, cursor = _element(data, cursor, depth + 1)
    return Element(tag, data[start:cursor], depth), cursor + 2


def read_first(data: bytes) -> Element:
    """The first element of `data` (what follows it is ignored, as OpenSSL ignores it)."""
    element, _ = _element(data, 0, 0)
    return element


def read_all(data: bytes, *, depth: int = 0) -> list[Element]:
    elements = []
    position = 0
    while position < len(data):
        element, position = _element(data, position, depth)
        elements.append(element)
    return elements


def expect(element: Element, tag: int, what: str) -> Element:
    if element.tag != tag:
        raise BerError(f"{what}: expected tag 0x{tag:02x}, found 0x{element.tag:02x}")
    return element


def integer(element: Element, what: str) -> int:
    expect(element, INTEGER, what)
    if not element.value or len(element.value) > 16:
        raise BerError(f"{what}: not a usable integer")
    return int.from_bytes(element.value, "big", signed=True)


def object_identifier(element: Element, what: str) -> str:
    expect(element, OBJECT_IDENTIFIER, what)
    raw = element.value
    if not raw or raw[-1] & 0x80 or len(raw) > 64:
        raise BerError(f"{what}: not an object identifier")
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def octets(element: Element, what: str) -> bytes:
    """An OCTET STRING's bytes, primitive or in segments, under its own or an IMPLICIT tag."""
    if not element.constructed:
        if element.tag not in (OCTET_STRING, CONTEXT_0_PRIMITIVE):
            raise BerError(f"{what}: expected an octet string, found tag 0x{element.tag:02x}")
        return element.value
    if element.tag not in (OCTET_STRING | CONSTRUCTED, CONTEXT_0):
        raise BerError(f"{what}: expected an octet string, found tag 0x{element.tag:02x}")
    return b"".join(octets(segment, what) for segment in element.children())


def explicit(element: Element, tag: int, what: str) -> Element:
    """The one element inside an EXPLICIT context tag."""
    inner = expect(element, tag, what).children()
    if len(inner) != 1:
        raise BerError(f"{what}: expected one element inside the tag")
    return inner[0]
