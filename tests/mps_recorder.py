"""A small real HTTP server standing in for MPS: it records every request, keeps the device
records MPS would hold (one per GUID, in the tenant it was registered under), and answers as told."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEVICE_PATH = re.compile(r"^/api/v1/devices/([0-9a-fA-F-]{36})$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class MpsRecorder:
    url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    status_by_method: dict[str, int] = field(default_factory=dict)
    # What MPS holds: POST merges into a GUID's record (as MPS does), DELETE removes it.
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        return [request for request in self.requests if method is None or request.method == method]

    def record(self, guid: str) -> dict[str, Any] | None:
        found = self.records.get(guid.lower())
        return json.loads(json.dumps(found)) if found is not None else None

    def apply(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """What MPS would answer, keeping its records. GET and DELETE of a device are scoped to
        the `tenantId` query parameter, as in MPS."""
        url = urlsplit(path)
        tenant = parse_qs(url.query).get("tenantId", [""])[0]
        device = DEVICE_PATH.match(url.path)
        if method == "POST" and url.path == "/api/v1/devices" and isinstance(body, dict) and body.get("guid"):
            guid = str(body["guid"]).lower()
            merged = {**self.records.get(guid, {}), **body}
            if "deviceInfo" in body and "deviceInfo" in self.records.get(guid, {}):
                merged["deviceInfo"] = {**self.records[guid]["deviceInfo"], **body["deviceInfo"]}
            self.records[guid] = merged
            return 201, merged
        if device is not None and method in ("GET", "DELETE"):
            guid = device.group(1).lower()
            found = self.records.get(guid)
            if found is None or found.get("tenantId", "") != tenant:
                return 404, {"error": "Not Found", "message": f"Device ID {guid} not found"}
            if method == "DELETE":
                del self.records[guid]
                return 204, None
            return 200, found
        return 200, body if isinstance(body, dict) else {}


@contextmanager
def running_mps_recorder() -> Iterator[MpsRecorder]:
    recorder = MpsRecorder(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as MPS (Express) answers

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with lock:
                recorder.requests.append(RecordedRequest(self.command, self.path, dict(self.headers), body))
                forced = recorder.status_by_method.get(self.command)
                status, answer = recorder.apply(self.command, self.path, body) if forced is None else (forced, {})
            payload = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # hundreds of concurrent activations register at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
