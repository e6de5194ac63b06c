"""WS-Management SOAP 1.2 on the device side: parse request envelopes, render responses.

Requests are matched on local names only (RPS, rpc-go and other servers pick their own
prefixes). Responses are rendered the way firmware writes them: compact XML, the fixed
prefix set ``a`` (SOAP) ``b`` (addressing) ``c`` (wsman) ... ``g``/``h`` (class or
enumeration), a ``RelatesTo`` echoing the request's MessageID and an ``Action`` that is
the request action plus ``Response``. Compare ``reference/wsman-fixtures/*.xml``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml.ElementTree import fromstring

SOAP_NS = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING_NS = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN_NS = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
TRUST_NS = "http://schemas.xmlsoap.org/ws/2005/02/trust"
WSS_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
CIMBINDING_NS = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
ENUMERATION_NS = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
TRANSFER_NS = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

AMT_SCHEMA = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS_SCHEMA = "http://intel.com/wbem/wscim/1/ips-schema/1/"
CIM_SCHEMA = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"

TRANSFER_OPERATIONS = ("Get", "Put", "Create", "Delete")
ENUMERATION_OPERATIONS = ("Enumerate", "Pull", "Release")

FAULT_ACTION_WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
FAULT_ACTION_ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"


def resource_uri_for(class_name: str) -> str:
    if class_name.startswith("AMT_"):
        return AMT_SCHEMA + class_name
    if class_name.startswith("IPS_"):
        return IPS_SCHEMA + class_name
    return CIM_SCHEMA + class_name


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class EndpointReference:
    """A WS-Addressing EPR: a resource URI plus selectors (a selector may hold an EPR)."""

    resource_uri: str
    selectors: dict[str, str | EndpointReference] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return self.resource_uri.rsplit("/", 1)[-1]

    def render(self) -> str:
        return (
            f"<b:Address>{ANONYMOUS}</b:Address><b:ReferenceParameters>"
            f"<c:ResourceURI>{escape(self.resource_uri)}</c:ResourceURI>"
            f"{render_selector_set(self.selectors)}</b:ReferenceParameters>"
        )


def render_selector_set(selectors: dict[str, str | EndpointReference]) -> str:
    if not selectors:
        return ""
    parts = []
    for name, value in selectors.items():
        if isinstance(value, EndpointReference):
            inner = f"<b:EndpointReference>{value.render()}</b:EndpointReference>"
        else:
            inner = escape(value)
        parts.append(f'<c:Selector Name="{escape(name)}">{inner}</c:Selector>')
    return f"<c:SelectorSet>{''.join(parts)}</c:SelectorSet>"


PropertyValue = str | EndpointReference
Properties = dict[str, list[PropertyValue]]


def _parse_selector_set(selector_set: Element) -> dict[str, str | EndpointReference]:
    selectors: dict[str, str | EndpointReference] = {}
    for selector in selector_set:
        if local_name(selector.tag) != "Selector":
            continue
        name = selector.get("Name", "")
        nested = next((child for child in selector if local_name(child.tag) == "EndpointReference"), None)
        selectors[name] = parse_endpoint_reference(nested) if nested is not None else (selector.text or "").strip()
    return selectors


def parse_endpoint_reference(element: Element) -> EndpointReference:
    resource_uri = ""
    selectors: dict[str, str | EndpointReference] = {}
    for node in element.iter():
        name = local_name(node.tag)
        if name == "ResourceURI" and not resource_uri:
            resource_uri = (node.text or "").strip()
        elif name == "SelectorSet":
            selectors = _parse_selector_set(node)
            break
    return EndpointReference(resource_uri=resource_uri, selectors=selectors)


def parse_properties(element: Element) -> Properties:
    """Children of an instance or ``*_INPUT`` element, by local name, repeated ones as lists."""
    properties: Properties = {}
    for child in element:
        name = local_name(child.tag)
        has_reference = any(local_name(grandchild.tag) in ("ReferenceParameters", "Address") for grandchild in child)
        value: PropertyValue = parse_endpoint_reference(child) if has_reference else (child.text or "")
        properties.setdefault(name, []).append(value)
    return properties


class MalformedRequest(ValueError):
    """The request body is not a WS-Man envelope the device can route."""


@dataclass(frozen=True)
class WsmanRequest:
    action: str
    resource_uri: str
    message_id: str
    selectors: dict[str, str | EndpointReference]
    body: Element | None

    @property
    def class_name(self) -> str:
        return self.resource_uri.rsplit("/", 1)[-1]

    @property
    def operation(self) -> str:
        """``Get``/``Put``/``Pull``/... for standard actions, else the method name."""
        return self.action.rsplit("/", 1)[-1]

    @property
    def call_name(self) -> str:
        return f"{self.class_name}.{self.operation}"

    @property
    def is_method_call(self) -> bool:
        return self.action.startswith(self.resource_uri + "/")

    def body_properties(self) -> Properties:
        return parse_properties(self.body) if self.body is not None else {}

    def body_text(self, name: str) -> str | None:
        values = self.body_properties().get(name)
        if not values or not isinstance(values[0], str):
            return None
        return values[0]

    def enumeration_context(self) -> str | None:
        if self.body is None:
            return None
        for node in self.body.iter():
            if local_name(node.tag) == "EnumerationContext":
                return (node.text or "").strip()
        return None


def parse_request(xml: bytes) -> WsmanRequest:
    try:
        root = fromstring(xml)
    except Exception as error:  # defusedxml raises several types; all mean the same here
        raise MalformedRequest(f"not well-formed XML: {error}") from error
    if local_name(root.tag) != "Envelope":
        raise MalformedRequest("root element is not Envelope")
    header = next((child for child in root if local_name(child.tag) == "Header"), None)
    body = next((child for child in root if local_name(child.tag) == "Body"), None)
    if header is None or body is None:
        raise MalformedRequest("Envelope needs Header and Body")
    fields: dict[str, str] = {}
    selectors: dict[str, str | EndpointReference] = {}
    for child in header:
        name = local_name(child.tag)
        if name == "SelectorSet":
            selectors = _parse_selector_set(child)
        else:
            fields[name] = (child.text or "").strip()
    if not fields.get("Action") or not fields.get("ResourceURI"):
        raise MalformedRequest("Action and ResourceURI are required")
    body_element = next(iter(body), None)
    return WsmanRequest(
        action=fields["Action"],
        resource_uri=fields["ResourceURI"],
        message_id=fields.get("MessageID", ""),
        selectors=selectors,
        body=body_element,
    )


@dataclass
class WsmanReply:
    """A 200 answer: the action URI and the Body content (prefixes ``g``/``h`` declared)."""

    action: str
    body: str
    body_namespaces: dict[str, str] = field(default_factory=dict)


class SoapFault(Exception):
    """A fault, sent as HTTP 400 with a chunked SOAP body (see SOAPFault_*.xml)."""

    def __init__(self, subcode: str, reason: str, *, code: str = "a:Sender", action: str = FAULT_ACTION_WSMAN):
        super().__init__(f"{subcode}: {reason}")
        self.subcode = subcode
        self.reason = reason
        self.code = code
        self.action = action

    @classmethod
    def already_exists(cls) -> SoapFault:
        return cls("e:AlreadyExists", "The sender attempted to create a resource which already exists.")

    @classmethod
    def destination_unreachable(cls) -> SoapFault:
        return cls(
            "b:DestinationUnreachable",
            "No route can be determined to reach the destination role defined by the WSAddressing To.",
            action=FAULT_ACTION_ADDRESSING,
        )

    @classmethod
    def action_not_supported(cls, action: str) -> SoapFault:
        return cls(
            "b:ActionNotSupported",
            f"The action is not supported by the service: {action}",
            action=FAULT_ACTION_ADDRESSING,
        )

    @classmethod
    def invalid_selectors(cls) -> SoapFault:
        return cls("e:InvalidSelectors", "The Selectors for the resource were not valid.")

    @classmethod
    def invalid_representation(cls, detail: str) -> SoapFault:
        return cls("e:InvalidRepresentation", f"The XML content was invalid. {detail}".strip())


_message_counter = itertools.count(0x2E4)

_ENVELOPE_NAMESPACES = (
    f'xmlns:a="{SOAP_NS}" xmlns:b="{ADDRESSING_NS}" xmlns:c="{WSMAN_NS}" xmlns:d="{TRUST_NS}" '
    f'xmlns:e="{WSS_NS}" xmlns:f="{CIMBINDING_NS}"'
)


def _header(*, relates_to: str, action: str, resource_uri: str | None) -> str:
    resource = f"<c:ResourceURI>{escape(resource_uri)}</c:ResourceURI>" if resource_uri else ""
    return (
        f"<a:Header><b:To>{ANONYMOUS}</b:To><b:RelatesTo>{escape(relates_to)}</b:RelatesTo>"
        f'<b:Action a:mustUnderstand="true">{escape(action)}</b:Action>'
        f"<b:MessageID>uuid:00000000-8086-8086-8086-{next(_message_counter):012X}</b:MessageID>"
        f"{resource}</a:Header>"
    )


def render_reply(request: WsmanRequest, reply: WsmanReply) -> bytes:
    extra = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in reply.body_namespaces.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<a:Envelope {_ENVELOPE_NAMESPACES}{extra} xmlns:xsi="{XSI_NS}">'
        f"{_header(relates_to=request.message_id, action=reply.action, resource_uri=request.resource_uri)}"
        f"<a:Body>{reply.body}</a:Body></a:Envelope>"
    ).encode()


def render_fault(fault: SoapFault, *, relates_to: str) -> bytes:
    # Faults use the namespace layout of SOAPFault_AlreadyExists.xml (e = wsman there).
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<a:Envelope xmlns:g="{CIMBINDING_NS}" xmlns:f="http://schemas.xmlsoap.org/ws/2004/08/eventing" '
        f'xmlns:e="{WSMAN_NS}" xmlns:d="{TRANSFER_NS}" xmlns:c="{ENUMERATION_NS}" xmlns:b="{ADDRESSING_NS}" '
        f'xmlns:a="{SOAP_NS}" xmlns:h="{TRUST_NS}" xmlns:i="{WSS_NS}" xmlns:xsi="{XSI_NS}">'
        f"{_header(relates_to=relates_to, action=fault.action, resource_uri=None)}"
        f"<a:Body><a:Fault><a:Code><a:Value>{fault.code}</a:Value><a:Subcode><a:Value>{fault.subcode}</a:Value>"
        f'</a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">{escape(fault.reason)}</a:Text></a:Reason>'
        "<a:Detail></a:Detail></a:Fault></a:Body></a:Envelope>"
    ).encode()


def render_properties(properties: Properties, prefix: str) -> str:
    parts = []
    for name, values in properties.items():
        for value in values:
            inner = value.render() if isinstance(value, EndpointReference) else escape(value)
            parts.append(f"<{prefix}:{name}>{inner}</{prefix}:{name}>")
    return "".join(parts)


def instance_reply(request: WsmanRequest, class_name: str, properties: Properties) -> WsmanReply:
    """Get/Put answer: ``<g:Class>props</g:Class>`` in the class namespace."""
    body = f"<g:{class_name}>{render_properties(properties, 'g')}</g:{class_name}>"
    return WsmanReply(
        action=response_action(request),
        body=body,
        body_namespaces={"g": resource_uri_for(class_name)},
    )


def method_reply(request: WsmanRequest, return_value: int, outputs: Properties | None = None) -> WsmanReply:
    """``<g:Method_OUTPUT>outputs<g:ReturnValue>n</g:ReturnValue></g:Method_OUTPUT>``."""
    method = request.operation
    inner = render_properties(outputs or {}, "g") + f"<g:ReturnValue>{return_value}</g:ReturnValue>"
    return WsmanReply(
        action=response_action(request),
        body=f"<g:{method}_OUTPUT>{inner}</g:{method}_OUTPUT>",
        body_namespaces={"g": request.resource_uri},
    )


def empty_reply(request: WsmanRequest) -> WsmanReply:
    return WsmanReply(action=response_action(request), body="")


def enumerate_reply(request: WsmanRequest, context: str) -> WsmanReply:
    return WsmanReply(
        action=response_action(request),
        body=f"<g:EnumerateResponse><g:EnumerationContext>{context}</g:EnumerationContext></g:EnumerateResponse>",
        body_namespaces={"g": ENUMERATION_NS},
    )


def pull_reply(request: WsmanRequest, class_name: str, items: list[Properties]) -> WsmanReply:
    rendered = "".join(f"<h:{class_name}>{render_properties(item, 'h')}</h:{class_name}>" for item in items)
    return WsmanReply(
        action=response_action(request),
        body=f"<g:PullResponse><g:Items>{rendered}</g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>",
        body_namespaces={"g": ENUMERATION_NS, "h": resource_uri_for(class_name)},
    )


def created_reply(request: WsmanRequest, reference: EndpointReference) -> WsmanReply:
    return WsmanReply(
        action=response_action(request),
        body=f"<g:ResourceCreated>{reference.render()}</g:ResourceCreated>",
        body_namespaces={"g": TRANSFER_NS},
    )


def response_action(request: WsmanRequest) -> str:
    # Real firmware answers <action>Response for transfer, enumeration and method calls alike.
    return request.action + "Response"
