"""Parse AMT's SOAP answers with defusedxml into a small namespace-free tree, then into `CimObject`s.

Namespace prefixes differ in every AMT response (fixtures INDEX.md note 2), so elements are
matched by local name. A repeated element and a single one are read the same way (note 3).
A DTD, an entity or an external reference is refused: `UnsafeXml` (SECURITY.md check 10).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple
from xml.etree.ElementTree import ParseError

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from activation.wsman.envelope import ANONYMOUS_ADDRESS, CimObject, EndpointReference, PropertyValue, Selector

MAX_DEPTH: Final = 32  # AMT answers nest about 8 deep; deeper is hostile or broken


class WsmanParseError(Exception):
    """A 200 answer whose body is not the WS-Man document expected (retryable, §3.6)."""


class UnsafeXml(Exception):
    """The device sent a DTD, an entity or an external reference: a security event that ends the
    session. Not a `WsmanParseError` on purpose: nothing that handles an unreadable answer as an
    ordinary failure (a retry, a failed configuration step) may catch it."""


class WsmanFault(Exception):
    """A SOAP fault (AMT sends it with HTTP 400), e.g. subcode `AlreadyExists`."""

    def __init__(self, subcode: str, reason: str, detail: str = "") -> None:
        super().__init__(f"WS-Man fault {subcode}: {reason}")
        self.subcode = subcode
        self.reason = reason
        self.detail = detail


class XmlNode(NamedTuple):
    """One element. A NamedTuple, not a frozen dataclass: a device answer becomes hundreds of
    nodes, and a frozen dataclass's __init__ was the single largest cost of parsing one."""

    name: str  # local name, namespace prefix stripped
    namespace: str
    text: str
    attributes: Mapping[str, str] = MappingProxyType({})
    children: tuple[XmlNode, ...] = ()

    def child(self, name: str) -> XmlNode | None:
        for child in self.children:  # a loop, not next() over a generator: called for every field read
            if child.name == name:
                return child
        return None

    def required(self, name: str) -> XmlNode:
        found = self.child(name)
        if found is None:
            raise WsmanParseError(f"<{self.name}> has no <{name}>")
        return found

    def all(self, name: str) -> list[XmlNode]:
        return [child for child in self.children if child.name == name]

    def text_of(self, name: str) -> str | None:
        found = self.child(name)
        return None if found is None else found.text


@dataclass(frozen=True)
class SoapEnvelope:
    """The Body of an answer. Its SOAP Header (To, RelatesTo, Action, MessageID, ResourceURI) is
    not kept: nothing in it decides anything, and it is a third of every answer's elements."""

    body: XmlNode

    def body_element(self, name: str) -> XmlNode:
        """The Body child named `name` (e.g. `AMT_GeneralSettings`, `Setup_OUTPUT`)."""
        found = self.body.child(name)
        if found is None:
            present = ", ".join(child.name for child in self.body.children) or "nothing"
            raise WsmanParseError(f"expected <{name}> in the Body, found {present}")
        return found


def parse_soap(document: bytes) -> SoapEnvelope:
    """Raises `UnsafeXml`, `WsmanParseError`; a SOAP fault raises `WsmanFault`."""
    envelope = _parse_tree(document)
    if envelope.name != "Envelope":
        raise WsmanParseError(f"root element is <{envelope.name}>, not a SOAP Envelope")
    body = envelope.child("Body")
    if body is None:
        raise WsmanParseError("SOAP Envelope without a Body")
    fault = body.child("Fault")
    if fault is not None:
        raise fault_from_node(fault)
    return SoapEnvelope(body=body)


def parse_fault(document: bytes) -> WsmanFault | None:
    """The fault in an HTTP 400 body, or None when the body is not a SOAP fault (e.g. HTML)."""
    try:
        envelope = _parse_tree(document)
    except WsmanParseError:  # not `UnsafeXml`: that one ends the session
        return None
    body = envelope.child("Body")
    fault = body.child("Fault") if body is not None else None
    return None if fault is None else fault_from_node(fault)


def fault_from_node(fault: XmlNode) -> WsmanFault:
    code = fault.child("Code")
    subcode_node = code.child("Subcode") if code is not None else None
    subcode = (subcode_node.text_of("Value") or "") if subcode_node is not None else ""
    if not subcode and code is not None:
        subcode = code.text_of("Value") or ""
    reason_node = fault.child("Reason")
    reason = (reason_node.text_of("Text") or "") if reason_node is not None else ""
    detail_node = fault.child("Detail")
    detail = _all_text(detail_node) if detail_node is not None else ""
    # "e:AlreadyExists" → "AlreadyExists": the prefix is the sender's choice.
    return WsmanFault(subcode=subcode.rpartition(":")[2], reason=reason, detail=detail)


def _all_text(node: XmlNode) -> str:
    return " ".join(part for part in [node.text, *(_all_text(child) for child in node.children)] if part)


SOAP_HEADER: Final = frozenset({"Header"})


def _parse_tree(document: bytes, *, skipped: frozenset[str] = SOAP_HEADER) -> XmlNode:
    builder = _NodeBuilder(skipped)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    # defusedxml guards the expat parser (no DTD, no entity, no external reference); the element
    # events go straight to the builder instead of through ElementTree's name fixing and Element
    # objects, which were most of the cost of reading a device answer.
    expat = parser.parser
    expat.StartElementHandler = builder.start
    expat.EndElementHandler = builder.end
    expat.CharacterDataHandler = builder.data
    try:
        parser.feed(document)
        root = parser.close()
    except defusedxml.DefusedXmlException as error:
        raise UnsafeXml(f"refused unsafe XML from the device: {type(error).__name__}") from None
    except (ParseError, ValueError) as error:
        raise WsmanParseError(f"malformed XML: {error}") from None
    if root is None:
        raise WsmanParseError("malformed XML: no element")
    return root


_NO_ATTRIBUTES: Final[Mapping[str, str]] = MappingProxyType({})


class _OpenElement:
    __slots__ = ("attributes", "children", "name", "namespace", "text_open", "texts")

    def __init__(self, name: str, namespace: str, attributes: Mapping[str, str]) -> None:
        self.name = name
        self.namespace = namespace
        self.attributes = attributes
        self.texts: list[str] = []
        self.children: list[XmlNode] = []
        self.text_open = True  # an element's text is what precedes its first child (ElementTree's .text)


class _NodeBuilder:
    """Builds `XmlNode`s from expat's events (namespace separator `}`, ordered attributes).

    A root child named in `skipped` (the SOAP Header) is read past without building nodes."""

    __slots__ = ("_open", "_root", "_skipped", "_skipping_depth")

    def __init__(self, skipped: frozenset[str] = frozenset()) -> None:
        self._open: list[_OpenElement] = []
        self._root: XmlNode | None = None
        self._skipped = skipped
        self._skipping_depth = 0  # elements open inside a skipped one, itself included

    def start(self, tag: str, attributes: list[str]) -> None:
        if len(self._open) + self._skipping_depth > MAX_DEPTH:
            raise WsmanParseError("XML nested too deeply")
        if self._skipping_depth:
            self._skipping_depth += 1
            return
        if self._open:
            self._open[-1].text_open = False
        namespace, _, name = tag.rpartition("}")
        if len(self._open) == 1 and name in self._skipped:
            self._skipping_depth = 1
            return
        attribute_map = (
            {key.rpartition("}")[2]: value for key, value in zip(attributes[0::2], attributes[1::2], strict=True)}
            if attributes
            else _NO_ATTRIBUTES
        )
        self._open.append(_OpenElement(name, namespace, attribute_map))

    def data(self, text: str) -> None:
        if self._open and self._open[-1].text_open and not self._skipping_depth:
            self._open[-1].texts.append(text)

    def end(self, _tag: str) -> None:
        if self._skipping_depth:
            self._skipping_depth -= 1
            return
        element = self._open.pop()
        node = XmlNode(
            element.name, element.namespace, "".join(element.texts).strip(), element.attributes, tuple(element.children)
        )
        if self._open:
            self._open[-1].children.append(node)
        else:
            self._root = node

    def close(self) -> XmlNode | None:
        return self._root


# ---------------------------------------------------------------------------------------------
# From nodes to CIM values
# ---------------------------------------------------------------------------------------------


def cim_object(node: XmlNode) -> CimObject:
    """A CIM instance element: each child a property; a child with ReferenceParameters is an EPR."""
    properties: list[tuple[str, PropertyValue]] = []
    for child in node.children:
        if child.child("ReferenceParameters") is not None:
            properties.append((child.name, endpoint_reference(child)))
        else:
            properties.append((child.name, child.text))
    return CimObject(class_name=node.name, resource_uri=node.namespace, properties=tuple(properties))


def endpoint_reference(node: XmlNode) -> EndpointReference:
    parameters = node.required("ReferenceParameters")
    selector_set = parameters.child("SelectorSet")
    selectors = tuple(
        Selector(name=selector.attributes.get("Name", ""), value=selector.text)
        for selector in (selector_set.all("Selector") if selector_set is not None else [])
    )
    return EndpointReference(
        resource_uri=parameters.text_of("ResourceURI") or "",
        selectors=selectors,
        address=node.text_of("Address") or ANONYMOUS_ADDRESS,
    )


def method_output(envelope: SoapEnvelope, method: str) -> XmlNode:
    return envelope.body_element(f"{method}_OUTPUT")


def return_value(output: XmlNode) -> int:
    return parse_int(output.text_of("ReturnValue"), "ReturnValue")


def parse_int(text: str | None, name: str) -> int:
    if text is None:
        raise WsmanParseError(f"missing {name}")
    try:
        return int(text.strip())
    except ValueError:
        raise WsmanParseError(f"{name} is not an integer: {text[:40]!r}") from None


def parse_optional_int(text: str | None, name: str) -> int | None:
    return None if text is None or text == "" else parse_int(text, name)


def parse_bool(text: str | None, name: str) -> bool:
    """AMT writes booleans as `true`/`false`; absent counts as false (as upstream's xml2js reading)."""
    if text is None or text == "":
        return False
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise WsmanParseError(f"{name} is not a boolean: {text[:40]!r}")


def parse_base64(text: str | None, name: str) -> bytes:
    if text is None:
        raise WsmanParseError(f"missing {name}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WsmanParseError(f"{name} is not base64") from None


@dataclass(frozen=True)
class PullPage:
    """One PullResponse: its items and whether more remain."""

    items: tuple[CimObject, ...]
    next_context: str | None  # None once EndOfSequence is reached


def parse_enumerate_response(envelope: SoapEnvelope) -> str:
    context = envelope.body_element("EnumerateResponse").text_of("EnumerationContext")
    if not context:
        raise WsmanParseError("EnumerateResponse without EnumerationContext")
    return context


def parse_pull_response(envelope: SoapEnvelope) -> PullPage:
    response = envelope.body_element("PullResponse")
    items_node = response.child("Items")
    # `<Items></Items>` means no instances (upstream tests `Items === ''`).
    items = tuple(cim_object(item) for item in items_node.children) if items_node is not None else ()
    finished = response.child("EndOfSequence") is not None
    context = response.text_of("EnumerationContext")
    return PullPage(items=items, next_context=None if finished or not context else context)
