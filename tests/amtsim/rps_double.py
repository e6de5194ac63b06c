"""A test double for the server side: builds WS-Man requests as RPS does (protocol.md §3.1–3.3)
and talks to a virtual device directly or through the rpc client's WebSocket relay.

Written from the spec, independently of amtsim's device code, so tests cross-check both.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

from amtsim.digest import DigestChallenge, DigestClient

AMT = "http://intel.com/wbem/wscim/1/amt-schema/1/"
IPS = "http://intel.com/wbem/wscim/1/ips-schema/1/"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
_message_ids = itertools.count()


def resource_uri(class_name: str) -> str:
    prefix = {"AMT": AMT, "IPS": IPS}.get(class_name.split("_", 1)[0], CIM)
    return prefix + class_name


def selector_set(selectors: dict[str, str] | None) -> str:
    if not selectors:
        return ""
    inner = "".join(f'<w:Selector Name="{name}">{value}</w:Selector>' for name, value in selectors.items())
    return f"<w:SelectorSet>{inner}</w:SelectorSet>"


def envelope(action: str, resource: str, body: str = "", *, selectors: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        f'xmlns:w="{WSMAN}" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>{action}</a:Action>'
        f"<a:To>/wsman</a:To><w:ResourceURI>{resource}</w:ResourceURI><a:MessageID>{next(_message_ids)}</a:MessageID>"
        "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
        f"<w:OperationTimeout>PT60S</w:OperationTimeout>{selectors}</Header><Body>{body}</Body></Envelope>"
    )


def get(class_name: str, selectors: dict[str, str] | None = None) -> str:
    return envelope(TRANSFER + "Get", resource_uri(class_name), selectors=selector_set(selectors))


def delete(class_name: str, selectors: dict[str, str]) -> str:
    return envelope(TRANSFER + "Delete", resource_uri(class_name), selectors=selector_set(selectors))


def enumerate_(class_name: str) -> str:
    body = '<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" />'
    return envelope(ENUMERATION + "Enumerate", resource_uri(class_name), body)


def pull(class_name: str, context: str) -> str:
    body = (
        '<Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration">'
        f"<EnumerationContext>{context}</EnumerationContext><MaxElements>999</MaxElements>"
        "<MaxCharacters>99999</MaxCharacters></Pull>"
    )
    return envelope(ENUMERATION + "Pull", resource_uri(class_name), body)


def put(class_name: str, properties: str, selectors: dict[str, str] | None = None, *, create: bool = False) -> str:
    uri = resource_uri(class_name)
    body = f'<h:{class_name} xmlns:h="{uri}">{properties}</h:{class_name}>'
    return envelope(TRANSFER + ("Create" if create else "Put"), uri, body, selectors=selector_set(selectors))


def method(class_name: str, name: str, parameters: str = "", selectors: dict[str, str] | None = None) -> str:
    uri = resource_uri(class_name)
    body = f'<h:{name}_INPUT xmlns:h="{uri}">{parameters}</h:{name}_INPUT>'
    return envelope(f"{uri}/{name}", uri, body, selectors=selector_set(selectors))


def params(**values: str | list[str]) -> str:
    parts = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            parts.append(f"<h:{name}>{item}</h:{name}>")
    return "".join(parts)


def epr(class_name: str, selectors: dict[str, str]) -> str:
    return (
        f"<a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{resource_uri(class_name)}</w:ResourceURI>{selector_set(selectors)}</a:ReferenceParameters>"
    )


def http_request(xml: str, *, authorization: str | None, host: str = "device:16992", close: bool = True) -> bytes:
    body = xml.encode()
    lines = ["POST /wsman HTTP/1.1"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    lines += [f"Host: {host}", "Transfer-Encoding: chunked"]
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head + f"{len(body):X}\r\n".encode() + body + b"\r\n0\r\n\r\n"


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes

    def xml(self) -> Element:
        return fromstring(self.body)

    def find(self, name: str) -> str | None:
        """Text of the first element with this local name."""
        for node in self.xml().iter():
            if node.tag.rsplit("}", 1)[-1] == name:
                return node.text or ""
        return None

    def find_all(self, name: str) -> list[str]:
        return [node.text or "" for node in self.xml().iter() if node.tag.rsplit("}", 1)[-1] == name]


def dechunk(data: bytes) -> bytes:
    body = bytearray()
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert data == b"\r\n", "chunked body must end exactly in 0\\r\\n\\r\\n"
            return bytes(body)
        body += data[:size]
        assert data[size : size + 2] == b"\r\n"
        data = data[size + 2 :]


def parse_http_answer(raw: bytes) -> HttpAnswer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(rest)
    else:
        body = rest[: int(headers.get("content-length", len(rest)))]
    return HttpAnswer(status=status, headers=headers, body=body, raw=raw)


async def exchange(host: str, port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """One request on a fresh connection, as rpc-go relays it; returns the raw answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


@dataclass
class DirectWsman:
    """Plays RPS against a device's HTTP port, with RPS's digest handling (§3.3)."""

    host: str
    port: int
    username: str
    password: str
    digest: DigestClient = field(init=False)

    def __post_init__(self) -> None:
        self.digest = DigestClient(self.username, self.password)

    def switch_credentials(self, username: str, password: str) -> None:
        # Same challenge and realm, new account (§3.3 step 1, "Update AMT Credentials").
        self.digest.username, self.digest.password = username, password

    async def call(self, xml: str, *, retries: int = 2) -> HttpAnswer:
        answer = await self.send_once(xml)
        while answer.status == 401 and retries > 0:
            self.digest.challenge = DigestChallenge.parse(answer.headers["www-authenticate"])
            retries -= 1
            answer = await self.send_once(xml)
        return answer

    async def send_once(self, xml: str) -> HttpAnswer:
        raw = await exchange(self.host, self.port, http_request(xml, authorization=self.digest.authorization()))
        return parse_http_answer(raw)

    async def enumerate_and_pull(self, class_name: str) -> HttpAnswer:
        context = (await self.call(enumerate_(class_name))).find("EnumerationContext")
        assert context
        return await self.call(pull(class_name, context))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
