"""HTTP requests run through Django's WSGI handler, one thread hop per request.

Under Django's ASGI handler every `MiddlewareMixin` hook of the (sync) middleware stack is its
own hop to a thread, about fifteen per request with this stack, and those hops were most of a
simple request's cost (bench/api_bench.py). Every view here is synchronous, so nothing is lost
by running the whole request, middleware and view, in one worker thread, taken from a sized
pool (`RPS_HTTP_THREADS`): a thread started and joined per request (asgiref's
`ThreadSensitiveContext`) was a tenth of a simple read's CPU. A slow request holds up only its
own thread.

asgiref's `WsgiToAsgi` is not used: it never closes the WSGI response, so Django's
`request_finished` never fires and pooled database connections are never given back.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def wsgi_environ(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP scope."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root_path.encode("utf8").decode("latin1"),
        "PATH_INFO": path.removeprefix(root_path).encode("utf8").decode("latin1"),
        "QUERY_STRING": scope["query_string"].decode("latin1"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    server = scope.get("server") or ("localhost", 80)
    environ["SERVER_NAME"], environ["SERVER_PORT"] = str(server[0]), str(server[1] or 0)
    if scope.get("client"):
        environ["REMOTE_ADDR"] = str(scope["client"][0])
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        key = {"CONTENT_TYPE": "CONTENT_TYPE", "CONTENT_LENGTH": "CONTENT_LENGTH"}.get(name, f"HTTP_{name}")
        if key == "CONTENT_LENGTH":
            continue  # the body was read in full: its real length is set above
        value = raw_value.decode("latin1")
        environ[key] = f"{environ[key]},{value}" if key in environ and key.startswith("HTTP_") else value
    return environ


_request_threads: ThreadPoolExecutor | None = None
_request_threads_lock = threading.Lock()


def request_threads() -> ThreadPoolExecutor:
    """The worker's threads for HTTP requests, started as needed up to `RPS_HTTP_THREADS`."""
    global _request_threads
    with _request_threads_lock:
        if _request_threads is None:
            _request_threads = ThreadPoolExecutor(max_workers=settings.HTTP_THREADS, thread_name_prefix="rps-http")
        return _request_threads


class DjangoHttpBridge:
    """An ASGI application that serves HTTP with a WSGI application, a pool thread per request."""

    def __init__(self, wsgi_application: WsgiApplication, *, max_body_bytes: int | None = None) -> None:
        self.wsgi_application = wsgi_application
        # Django refuses larger bodies itself; this stops them before they are buffered here.
        self.max_body_bytes = max_body_bytes or 4 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._send(send, (413, [(b"content-type", b"text/plain")], b"Request body too large"))
                return
            if not message.get("more_body"):
                break
        context = contextvars.copy_context()
        response = await asyncio.get_running_loop().run_in_executor(
            request_threads(), context.run, self._respond, scope, bytes(body)
        )
        await self._send(send, response)

    def _respond(self, scope: dict[str, Any], body: bytes) -> Response:
        started: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers]

        result = self.wsgi_application(wsgi_environ(scope, body), start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # Django's request_finished: database connections go back to the pool
        return started["status"], started["headers"], content

    @staticmethod
    async def _send(send: Callable[..., Any], response: Response) -> None:
        status, headers, content = response
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
