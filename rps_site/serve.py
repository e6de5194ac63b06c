"""`python -m rps_site.serve`: daphne's command line and server, plus what the device channel needs
to know about each connection and daphne does not say.

- **Which WebSocket connections arrived over TLS.** daphne puts no `scheme` in a WebSocket scope,
  so an application behind it cannot tell `wss://` from `ws://`. This server adds the ASGI `tls`
  extension to the scope of each WebSocket connection whose own transport is TLS (an `ssl:`
  endpoint): nothing a client sends can set it. (HTTP scopes already carry daphne's `scheme`.)
- **Close reasons** (ASGI WebSocket spec 2.3): a refused or timed-out device socket is closed with
  a code and a text rpc-go shows, e.g. 1008 "device connections need TLS (wss://)". daphne drops
  the reason, and autobahn's public `sendClose` refuses the standard 1008.
- **Draining** (SIGTERM; daphne would stop at once and drop every session): `GET /healthz`, the
  load balancer's check, answers 503 from then on; after `RPS_DRAIN_NOTICE` seconds (time for
  the balancer to notice) the worker stops listening, HTTP connections close after the request
  they carry, and device sessions run on until they end or `RPS_DRAIN_SECONDS` after the signal
  have passed; then the sessions still running are ended with a reason (`rps_site.draining`),
  the remaining WebSockets (Enterprise Assistants) are closed with 1012 so they reconnect to
  another worker, and the process exits. SIGINT still stops at once.
- **Which runs are its own** (`devices.ownership`): before it serves, the worker takes its
  ownership lock and marks the runs that workers which died left in progress as interrupted.

Every daphne option works as with `daphne`; the frame limits default to the device channel's.
"""

from __future__ import annotations

from daphne.server import Server  # isort: skip  (first: it installs the asyncio reactor Twisted must use)
import asyncio
import logging
import signal
from types import FrameType
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.internet.interfaces import ISSLTransport

from metrics.multiprocess import prepare_worker
from rps_site import draining
from rps_site.serving import DEVICE_FRAME_LIMIT

logger = logging.getLogger("rps_site.serve")

# websocket.close carries `reason` from this version of the ASGI WebSocket spec on.
WEBSOCKET_SPEC_VERSION = "2.3"
CLOSE_REASON_LIMIT = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 for the code
HEALTH_PATH = "/healthz"
CLOSE_SERVICE_RESTART = 1012
# After the deadline, how long the sessions still running get to send their last message.
LAST_WORD_SECONDS = 2.0
DRAIN_POLL_SECONDS = 0.2


class WorkerHealth:
    """ASGI: `GET /healthz` answers whether this worker takes new work (200) or drains (503), before
    any application code, so the check costs the balancer and the worker next to nothing."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != HEALTH_PATH:
            return await self.application(scope, receive, send)
        status, body = (503, b'{"status":"draining"}') if draining.worker.draining else (200, b'{"status":"serving"}')
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return None


# daphne has no type hints: its classes are `Any` to mypy. These overrides use daphne's internals
# (rps_site/private_apis.py).
class RpsServer(Server):  # type: ignore[misc]
    def __init__(self, application: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(WorkerHealth(application), *args, **kwargs)
        self.ports: list[Any] = []  # twisted's IListeningPort
        self.long_lived: set[Any] = set()  # Enterprise Assistant sockets: not sessions to wait for

    def run(self) -> None:
        from django.conf import settings

        from devices import ownership

        # Before the first connection: this worker's runs are its own, dead workers' are marked.
        marked = ownership.worker.start(sweep_seconds=settings.ORPHAN_SWEEP_SECONDS)
        logger.warning("worker %s: %d runs of dead workers marked interrupted", ownership.worker.worker_id, marked)
        if self.signal_handlers:
            reactor.callWhenRunning(signal.signal, signal.SIGTERM, self._on_sigterm)
        super().run()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        reactor.callFromThread(self._start_drain)

    def _start_drain(self) -> None:
        if draining.worker.draining:
            logger.warning("SIGTERM again: already draining")
            return
        draining.worker.begin()
        asyncio.ensure_future(self.drain())

    async def drain(self) -> None:
        from django.conf import settings

        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.DRAIN_SECONDS
        logger.warning(
            "SIGTERM: draining %d sessions and requests (health check 503; listening for %g s more; %g s in all)",
            self.open_sessions(),
            settings.DRAIN_NOTICE_SECONDS,
            settings.DRAIN_SECONDS,
        )
        await asyncio.sleep(settings.DRAIN_NOTICE_SECONDS)
        for port in self.ports:
            stopped = port.stopListening()
            if stopped is not None:
                await stopped.asFuture(loop)
        logger.warning("draining: stopped listening; %d sessions and requests still running", self.open_sessions())
        while self.open_sessions() and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_SECONDS)
        if self.open_sessions():
            logger.warning("draining: the deadline passed; ending %d sessions", self.open_sessions())
            draining.worker.deadline_passed()
            last_word = loop.time() + LAST_WORD_SECONDS
            while self.open_sessions() and loop.time() < last_word:
                await asyncio.sleep(DRAIN_POLL_SECONDS)
        if self._close_websockets():
            # Their applications see the close and tidy up (an EA leaves its group, fails what it held).
            last_word = loop.time() + LAST_WORD_SECONDS
            while any(not details.get("disconnected") for details in self.connections.values()):
                if loop.time() > last_word:
                    break
                await asyncio.sleep(DRAIN_POLL_SECONDS)
        logger.warning("drained in %.1f s: stopping", settings.DRAIN_SECONDS - (deadline - loop.time()))
        self.stop()

    def open_sessions(self) -> int:
        """Connections still doing work: device sockets and HTTP requests in flight, and any whose
        application has not finished (a closed session still releasing its count, say)."""

        def busy(details: dict[str, Any]) -> bool:
            application = details.get("application_instance")
            return "disconnected" not in details or (application is not None and not application.done())

        return sum(
            1 for protocol, details in self.connections.items() if busy(details) and protocol not in self.long_lived
        )

    def _close_websockets(self) -> int:
        """Close the WebSockets still open (Enterprise Assistants, sessions past the deadline)."""
        closing = [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol)
            and "disconnected" not in details
            and protocol.state == protocol.STATE_OPEN
        ]
        for protocol in closing:
            protocol.sendCloseFrame(code=CLOSE_SERVICE_RESTART, reasonUtf8=b"the server is restarting")
        return len(closing)

    def protocol_disconnected(self, protocol: Any) -> None:
        self.long_lived.discard(protocol)
        super().protocol_disconnected(protocol)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        if scope["type"] == "websocket":
            from activation.enterprise_assistant.routing import serves_enterprise_assistant

            if serves_enterprise_assistant(scope):
                self.long_lived.add(protocol)
            scope["asgi"] = {"version": "3.0", "spec_version": WEBSOCKET_SPEC_VERSION}
            if ISSLTransport(protocol.transport, None) is not None:
                scope["extensions"] = {
                    **scope.get("extensions", {}),
                    "tls": {
                        "server_cert": None,
                        "client_cert_chain": [],
                        "client_cert_name": None,
                        "client_cert_error": None,
                        "tls_version": None,
                        "cipher_suite": None,
                    },
                }
        return super().create_application(protocol, scope)

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and draining.worker.draining:
            # No keep-alive while draining: each connection closes after the request it carries.
            message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            if protocol.channel is not None:
                protocol.channel.persistent = False
        if (
            message["type"] == "websocket.close"
            and protocol in self.connections
            and not self.connections[protocol].get("disconnected")
            and protocol.state == protocol.STATE_OPEN
        ):
            reason = str(message.get("reason") or "").encode()[:CLOSE_REASON_LIMIT].decode("utf-8", "ignore")
            # daphne itself closes with 1011 this way (`handle_exception`).
            protocol.sendCloseFrame(code=message.get("code") or 1000, reasonUtf8=reason.encode())
            return
        await super().handle_reply(protocol, message)


class RpsCommandLine(CommandLineInterface):  # type: ignore[misc]
    server_class = RpsServer

    def __init__(self) -> None:
        super().__init__()
        self.parser.set_defaults(
            websocket_max_message_size=DEVICE_FRAME_LIMIT, websocket_max_frame_size=DEVICE_FRAME_LIMIT
        )


if __name__ == "__main__":
    prepare_worker()  # before any metric is written: this worker's files in PROMETHEUS_MULTIPROC_DIR
    RpsCommandLine.entrypoint()
