"""A small real HTTP server standing in for MPS: it records every request and answers as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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

    def calls(self, method: str | None = None) -> list[RecordedRequest]:
        return [request for request in self.requests if method is None or request.method == method]


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
            status = recorder.status_by_method.get(self.command, 200)
            payload = json.dumps(body if isinstance(body, dict) else {}).encode()
            self.send_response(status)
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
