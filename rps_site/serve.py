"""`python -m rps_site.serve`: daphne's command line and server, plus what the device channel needs
to know about each connection and daphne does not say.

- **Which WebSocket connections arrived over TLS.** daphne puts no `scheme` in a WebSocket scope,
  so an application behind it cannot tell `wss://` from `ws://`. This server adds the ASGI `tls`
  extension to the scope of each WebSocket connection whose own transport is TLS (an `ssl:`
  endpoint): nothing a client sends can set it. (HTTP scopes already carry daphne's `scheme`.)
- **Close reasons** (ASGI WebSocket spec 2.3): a refused or timed-out device socket is closed with
  a code and a text rpc-go shows, e.g. 1008 "device connections need TLS (wss://)". daphne drops
  the reason, and autobahn's public `sendClose` refuses the standard 1008.

Every daphne option works as with `daphne`; the frame limits default to the device channel's.
"""

from __future__ import annotations

from daphne.server import Server  # isort: skip  (first: it installs the asyncio reactor Twisted must use)
from typing import Any

from daphne.cli import CommandLineInterface
from twisted.internet.interfaces import ISSLTransport

from rps_site.serving import DEVICE_FRAME_LIMIT

# websocket.close carries `reason` from this version of the ASGI WebSocket spec on.
WEBSOCKET_SPEC_VERSION = "2.3"
CLOSE_REASON_LIMIT = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 for the code


# daphne has no type hints: its classes are `Any` to mypy.
class RpsServer(Server):  # type: ignore[misc]
    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        if scope["type"] == "websocket":
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
    RpsCommandLine.entrypoint()
