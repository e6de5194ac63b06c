"""WS-Management requests as data, rendered into the exact SOAP 1.2 envelope of protocol.md §3.2.

A `WsmanRequest` is what to ask (action, resource, selectors, body); `render(message_id)` gives
the one-line XML that upstream's wsman-messages 6.1.3 produces byte for byte, except that every
text value is XML-escaped (upstream escapes only the Wi-Fi passphrase). Bodies are built from
`CimObject` instances and `(name, value)` parameter lists, never from hand-written XML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final
from xml.sax.saxutils import escape, quoteattr

SOAP_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING_NS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN_NS: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
ENUMERATION_NS: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
ANONYMOUS_ADDRESS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

AMT_SCHEMA: Final = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS_SCHEMA: Final = "http://intel.com/wbem/wscim/1/ips-schema/1/"
CIM_SCHEMA: Final = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"

_ENVELOPE_START: Final = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    f'xmlns:a="{ADDRESSING_NS}" xmlns:w="{WSMAN_NS}" xmlns="{SOAP_NS}">'
)


class Operation(StrEnum):
    GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
    PUT = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
    CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
    DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
    ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
    PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"


def amt_resource(class_name: str) -> str:
    return AMT_SCHEMA + class_name


def ips_resource(class_name: str) -> str:
    return IPS_SCHEMA + class_name


def cim_resource(class_name: str) -> str:
    return CIM_SCHEMA + class_name


@dataclass(frozen=True)
class Selector:
    name: str
    value: str | EndpointReference


@dataclass(frozen=True)
class EndpointReference:
    """A reference to a CIM instance (WS-Addressing EPR), e.g. a certificate by InstanceID."""

    resource_uri: str
    selectors: tuple[Selector, ...]
    address: str = ANONYMOUS_ADDRESS

    def selector(self, name: str) -> str | None:
        for selector in self.selectors:
            if selector.name == name and isinstance(selector.value, str):
                return selector.value
        return None


PropertyValue = str | EndpointReference


@dataclass(frozen=True)
class CimObject:
    """One CIM instance as AMT returned it: every property, in order, repeated ones repeated, so a
    Put can echo what it does not change (protocol.md §3.2)."""

    class_name: str
    resource_uri: str
    properties: tuple[tuple[str, PropertyValue], ...]

    def value(self, name: str) -> str | None:
        for key, value in self.properties:
            if key == name and isinstance(value, str):
                return value
        return None

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.properties if key == name and isinstance(value, str)]

    def reference(self, name: str) -> EndpointReference | None:
        for key, value in self.properties:
            if key == name and isinstance(value, EndpointReference):
                return value
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.properties)

    def with_values(self, changes: dict[str, PropertyValue | Sequence[str] | None]) -> CimObject:
        """A copy with properties replaced (in place), added (at the end, as upstream does) or,
        for `None`, removed. A list value becomes a repeated property."""
        result: list[tuple[str, PropertyValue]] = []
        done: set[str] = set()
        for key, value in self.properties:
            if key not in changes:
                result.append((key, value))
            elif key not in done:
                result.extend(_expand(key, changes[key]))
                done.add(key)
        for key, change in changes.items():
            if key not in done:
                result.extend(_expand(key, change))
        return CimObject(self.class_name, self.resource_uri, tuple(result))


def _expand(key: str, change: PropertyValue | Sequence[str] | None) -> list[tuple[str, PropertyValue]]:
    if change is None:
        return []
    if isinstance(change, str | EndpointReference):
        return [(key, change)]
    return [(key, item) for item in change]


def wsman_bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class WsmanRequest:
    """One WS-Man request. `body` is the rendered `<Body>` element (built by the functions below)."""

    action: str
    resource_uri: str
    body: str = field(repr=False)
    selectors: tuple[Selector, ...] = ()

    def render(self, message_id: int) -> str:
        header = (
            f"<Header><a:Action>{escape(self.action)}</a:Action><a:To>/wsman</a:To>"
            f"<w:ResourceURI>{escape(self.resource_uri)}</w:ResourceURI>"
            f"<a:MessageID>{message_id}</a:MessageID>"
            f"<a:ReplyTo><a:Address>{ANONYMOUS_ADDRESS}</a:Address></a:ReplyTo>"
            "<w:OperationTimeout>PT60S</w:OperationTimeout>"
            f"{_header_selector_set(self.selectors)}</Header>"
        )
        return f"{_ENVELOPE_START}{header}{self.body}</Envelope>"


def _header_selector_set(selectors: Sequence[Selector]) -> str:
    if not selectors:
        return ""
    rendered = []
    for selector in selectors:
        if isinstance(selector.value, EndpointReference):
            # wsman-messages `createSelector`: an EPR selector wraps an a:EndpointReference.
            inner = f"<a:EndpointReference>{_reference_prefixed(selector.value)}</a:EndpointReference>"
        else:
            inner = escape(selector.value)
        rendered.append(f"<w:Selector Name={quoteattr(selector.name)}>{inner}</w:Selector>")
    return f"<w:SelectorSet>{''.join(rendered)}</w:SelectorSet>"


def _reference_prefixed(reference: EndpointReference) -> str:
    selectors = "".join(
        f"<w:Selector Name={quoteattr(s.name)}>{escape(s.value) if isinstance(s.value, str) else ''}</w:Selector>"
        for s in reference.selectors
    )
    return (
        f"<a:Address>{escape(reference.address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(reference.resource_uri)}</w:ResourceURI>"
        f"<w:SelectorSet>{selectors}</w:SelectorSet></a:ReferenceParameters>"
    )


def _element(prefix: str, name: str, value: PropertyValue) -> str:
    tag = f"{prefix}:{name}"
    if isinstance(value, EndpointReference):
        return f"<{tag}>{_reference_prefixed(value)}</{tag}>"
    return f"<{tag}>{escape(value)}</{tag}>"


Parameter = tuple[str, PropertyValue]


def _elements(prefix: str, parameters: Iterable[Parameter]) -> str:
    return "".join(_element(prefix, name, value) for name, value in parameters)


def empty_body() -> str:
    return "<Body></Body>"


def enumerate_body() -> str:
    return f'<Body><Enumerate xmlns="{ENUMERATION_NS}" /></Body>'


def pull_body(enumeration_context: str) -> str:
    return (
        f'<Body><Pull xmlns="{ENUMERATION_NS}"><EnumerationContext>{escape(enumeration_context)}'
        "</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull></Body>"
    )


def instance_body(instance: CimObject) -> str:
    """Put/Create body: `<h:Class xmlns:h="uri"><h:Prop>v</h:Prop>...</h:Class>`."""
    return (
        f"<Body><h:{instance.class_name} xmlns:h={quoteattr(instance.resource_uri)}>"
        f"{_elements('h', instance.properties)}</h:{instance.class_name}></Body>"
    )


@dataclass(frozen=True)
class EmbeddedInstance:
    """A method parameter that is itself an instance of another class (`xmlns:q`), e.g. the
    `WiFiEndpointSettingsInput` of AddWiFiSettings."""

    resource_uri: str
    properties: tuple[Parameter, ...]


def method_body(
    resource_uri: str, method: str, parameters: Sequence[tuple[str, PropertyValue | EmbeddedInstance]]
) -> str:
    """Method call body: `<h:<Method>_INPUT xmlns:h="uri"><h:Param>v</h:Param>...`."""
    rendered = []
    for name, value in parameters:
        if isinstance(value, EmbeddedInstance):
            rendered.append(
                f"<h:{name} xmlns:q={quoteattr(value.resource_uri)}>{_elements('q', value.properties)}</h:{name}>"
            )
        else:
            rendered.append(_element("h", name, value))
    return f"<Body><h:{method}_INPUT xmlns:h={quoteattr(resource_uri)}>{''.join(rendered)}</h:{method}_INPUT></Body>"


def get_request(resource_uri: str, selectors: tuple[Selector, ...] = ()) -> WsmanRequest:
    return WsmanRequest(Operation.GET, resource_uri, empty_body(), selectors)


def put_request(instance: CimObject, selectors: tuple[Selector, ...] = ()) -> WsmanRequest:
    return WsmanRequest(Operation.PUT, instance.resource_uri, instance_body(instance), selectors)


def create_request(instance: CimObject) -> WsmanRequest:
    return WsmanRequest(Operation.CREATE, instance.resource_uri, instance_body(instance))


def delete_request(resource_uri: str, selector: Selector) -> WsmanRequest:
    return WsmanRequest(Operation.DELETE, resource_uri, empty_body(), (selector,))


def enumerate_request(resource_uri: str) -> WsmanRequest:
    return WsmanRequest(Operation.ENUMERATE, resource_uri, enumerate_body())


def pull_request(resource_uri: str, enumeration_context: str) -> WsmanRequest:
    return WsmanRequest(Operation.PULL, resource_uri, pull_body(enumeration_context))


def method_request(
    resource_uri: str, method: str, parameters: Sequence[tuple[str, PropertyValue | EmbeddedInstance]] = ()
) -> WsmanRequest:
    return WsmanRequest(f"{resource_uri}/{method}", resource_uri, method_body(resource_uri, method, parameters))
