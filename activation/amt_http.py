"""The HTTP/1.1 around each WS-Man call (protocol.md §3.1, §3.5): the request RPS builds and the
answer it reads, de-chunked exactly once (correction 1)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from activation.session_errors import AmtResponseMalformed


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = field(repr=False)


def build_http_request(*, host: str, body: bytes, authorization: str | None, connection_close: bool = True) -> bytes:
    """§3.1: Authorization first (once a challenge is known), Host, chunked body in one chunk
    whose size is the byte length of the UTF-8 body (profile data may be non-ASCII)."""
    lines = ["POST /wsman HTTP/1.1"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    lines.append(f"Host: {host}")
    lines.append("Transfer-Encoding: chunked")
    if connection_close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head + f"{len(body):X}\r\n".encode("ascii") + body + b"\r\n0\r\n\r\n"


_STATUS_LINE: Final = re.compile(rb"^HTTP/1\.[01] (\d{3})(?: (.*))?$")


def parse_http_response(raw: bytes) -> HttpResponse:
    """Parse AMT's answer; a chunked body is de-chunked here and only here (correction 1)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    if not separator:
        raise AmtResponseMalformed("HTTP", "no end of headers")
    lines = head.split(b"\r\n")
    status_match = _STATUS_LINE.match(lines[0])
    if status_match is None:
        raise AmtResponseMalformed("HTTP", "no HTTP status line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            raise AmtResponseMalformed("HTTP", "header line without a colon")
        headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(rest)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise AmtResponseMalformed("HTTP", "Content-Length is not a number") from None
        if length < 0 or len(rest) < length:
            raise AmtResponseMalformed("HTTP", "body shorter than Content-Length")
        body = rest[:length]
    else:
        body = rest  # Connection: close delimits the body
    return HttpResponse(
        status=int(status_match.group(1)),
        reason=(status_match.group(2) or b"").decode("latin-1"),
        headers=headers,
        body=body,
    )


def dechunk(data: bytes) -> bytes:
    """RFC 9112 chunked coding; the terminating zero-size chunk must be present."""
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise AmtResponseMalformed("HTTP", "chunked body ends inside a chunk size line")
        size_text = data[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise AmtResponseMalformed("HTTP", "chunk size is not hexadecimal") from None
        position = line_end + 2
        if size == 0:
            return bytes(body)  # trailers, if any, are ignored
        if len(data) < position + size + 2 or data[position + size : position + size + 2] != b"\r\n":
            raise AmtResponseMalformed("HTTP", "chunk shorter than its size")
        body += data[position : position + size]
        position += size + 2
