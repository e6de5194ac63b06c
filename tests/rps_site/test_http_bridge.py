"""The HTTP bridge runs a WSGI application per request and always closes its response."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.conf import settings

from rps_site.http_bridge import DjangoHttpBridge

pytestmark = pytest.mark.asyncio


class RecordingApp:
    def __init__(self) -> None:
        self.environs: list[dict[str, Any]] = []
        self.closed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.environs.append(environ)
        body = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "application/json"), ("X-Echo", str(len(body)))])
        app = self

        class Result:
            def __iter__(self) -> Any:
                yield b'{"got":'
                yield str(len(body)).encode() + b"}"

            def close(self) -> None:
                app.closed += 1

        return Result()


def scope(**extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/admin/profiles",
        "root_path": "",
        "query_string": b"$top=5",
        "http_version": "1.1",
        "scheme": "https",
        "server": ("127.0.0.1", 8443),
        "client": ("203.0.113.9", 5555),
        "headers": [(b"host", b"rps.example"), (b"content-type", b"application/json"), (b"x-a", b"1"), (b"x-a", b"2")],
        **extra,
    }


async def run(
    bridge: DjangoHttpBridge, messages: list[dict[str, Any]], request_scope: dict[str, Any]
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    incoming = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await bridge(request_scope, receive, send)
    return sent


async def test_request_is_translated_and_the_response_closed() -> None:
    app = RecordingApp()
    bridge = DjangoHttpBridge(app, max_body_bytes=1000)
    sent = await run(
        bridge,
        [{"type": "http.request", "body": b"abc", "more_body": True}, {"type": "http.request", "body": b"de"}],
        scope(),
    )
    assert sent[0]["status"] == 201
    assert (b"x-echo", b"5") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"got":5}'
    assert app.closed == 1, "Django's request_finished (and the pool return) depends on close()"
    environ = app.environs[0]
    assert environ["PATH_INFO"] == "/api/v1/admin/profiles" and environ["QUERY_STRING"] == "$top=5"
    assert environ["wsgi.url_scheme"] == "https" and environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["HTTP_HOST"] == "rps.example" and environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "5" and environ["HTTP_X_A"] == "1,2"


async def test_an_oversized_body_is_refused_before_the_application_runs() -> None:
    app = RecordingApp()
    sent = await run(DjangoHttpBridge(app, max_body_bytes=4), [{"type": "http.request", "body": b"too long"}], scope())
    assert sent[0]["status"] == 413
    assert app.environs == []


async def test_a_client_gone_before_its_body_gets_no_response() -> None:
    app = RecordingApp()
    sent = await run(DjangoHttpBridge(app, max_body_bytes=100), [{"type": "http.disconnect"}], scope())
    assert sent == [] and app.environs == []


async def test_requests_run_on_the_sized_pool_and_a_slow_one_holds_up_only_its_thread() -> None:
    """Each request on one of `RPS_HTTP_THREADS` long-lived threads (none started per request);
    while one request blocks, the others are served on the remaining threads."""
    release = threading.Event()
    threads: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        threads.append(threading.current_thread().name)
        if environ["PATH_INFO"] == "/slow":
            release.wait(timeout=10)
        start_response("200 OK", [])
        return [b"ok"]

    bridge = DjangoHttpBridge(app, max_body_bytes=100)
    request = [{"type": "http.request", "body": b""}]
    slow = asyncio.ensure_future(run(bridge, request, scope(path="/slow")))
    for _ in range(3 * settings.HTTP_THREADS):
        assert (await asyncio.wait_for(run(bridge, request, scope(path="/fast")), timeout=5))[0]["status"] == 200
    assert not slow.done()
    release.set()
    assert (await asyncio.wait_for(slow, timeout=5))[0]["status"] == 200
    assert all(name.startswith("rps-http") for name in threads)
    assert len(set(threads)) <= settings.HTTP_THREADS, "threads are reused, never one per request"
