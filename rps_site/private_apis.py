"""Every place RPS relies on a dependency's private or undocumented API, in one list.

Each entry names the dependency and the exact version whose code was read, where RPS uses it,
why a public API does not do, and what must still hold. `tests/test_private_apis.py` fails when
an installed version differs from the one checked here or when what an entry relies on is gone:
then read that version's code at the place named, adjust the use, and update the entry. The
lock file (requirements.txt) pins every version, so this only moves with a deliberate upgrade.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PrivateApi:
    distribution: str  # as installed ("Django", "channels", ...); "python" for the standard library
    checked_version: str  # the version whose code was read (for "python": major.minor)
    what: str
    where: str
    why: str
    still_holds: Callable[[], bool]


def _source_says(function: object, *fragments: str) -> bool:
    text = inspect.getsource(function)  # type: ignore[arg-type]
    return all(fragment in text for fragment in fragments)


def _changeform_view() -> bool:
    from django.contrib.admin import ModelAdmin

    return hasattr(ModelAdmin, "_changeform_view") and _source_says(
        ModelAdmin.changeform_view, "transaction.atomic", "self._changeform_view("
    )


def _admin_registry() -> bool:
    from django.contrib import admin

    return isinstance(admin.site._registry, dict)


def _conditional_response() -> bool:
    from django.utils.cache import get_conditional_response

    return list(inspect.signature(get_conditional_response).parameters) == [
        "request",
        "etag",
        "last_modified",
        "response",
    ]


def _consumer_call() -> bool:
    from channels.consumer import AsyncConsumer

    return _source_says(AsyncConsumer.send, "self.base_send(") and _source_says(
        AsyncConsumer.__call__, "self.channel_layer", "self.base_send", "StopConsumer"
    )


def _consumer_dispatch() -> bool:
    from channels import consumer

    return hasattr(consumer, "get_handler_name") and _source_says(
        consumer.AsyncConsumer.dispatch, "aclose_old_connections()", "get_handler_name(message)"
    )


def _daphne_server() -> bool:
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    return (
        CommandLineInterface.server_class is Server
        and all(hasattr(Server, name) for name in ("run", "stop", "listen_success"))
        and _source_says(Server.__init__, "self.signal_handlers")
        and _source_says(
            Server.create_application, "def create_application(self, protocol, scope)", '"application_instance"'
        )
        and _source_says(Server.handle_reply, "def handle_reply(self, protocol, message)", "self.connections")
        and _source_says(Server.protocol_disconnected, '"disconnected"', "self.connections[protocol]")
    )


def _autobahn_close_frame() -> bool:
    from autobahn.websocket.protocol import WebSocketProtocol

    return hasattr(WebSocketProtocol, "sendCloseFrame") and hasattr(WebSocketProtocol, "STATE_OPEN")


def _ssl_private_chain() -> bool:
    engine = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    return hasattr(ssl._ssl, "ENCODING_DER") and hasattr(engine._sslobj, "get_unverified_chain")  # type: ignore[attr-defined]


def _httpx_transport() -> bool:
    import httpx

    return callable(getattr(httpx.AsyncHTTPTransport, "handle_async_request", None))


def _requests_connection_error() -> bool:
    import requests.adapters
    import urllib3.exceptions

    return _source_says(urllib3.exceptions.MaxRetryError.__init__, "self.reason") and _source_says(
        requests.adapters.HTTPAdapter.send, "raise ConnectionError(e, request=request)"
    )


PRIVATE_APIS: tuple[PrivateApi, ...] = (
    PrivateApi(
        "Django",
        "5.2.19",
        "ModelAdmin._changeform_view",
        "profiles/admin/service_backed.py ServiceSavingAdmin.changeform_view",
        "changeform_view wraps it in transaction.atomic(); a save whose service writes Vault must not run "
        "inside an outer transaction that could still roll back the rows",
        _changeform_view,
    ),
    PrivateApi(
        "Django",
        "5.2.19",
        "AdminSite._registry",
        "portal/site.py",
        "the portal looks up the ModelAdmin of a model; AdminSite offers no public look-up",
        _admin_registry,
    ),
    PrivateApi(
        "Django",
        "5.2.19",
        "django.utils.cache.get_conditional_response (undocumented)",
        "profiles/api/resource.py CollectionVerbs.get",
        "answers If-None-Match (and If-Match) before any row is read, exactly as ConditionalGetMiddleware "
        "would after rendering",
        _conditional_response,
    ),
    PrivateApi(
        "channels",
        "4.3.2",
        "AsyncConsumer.__call__ re-implemented (base_send, channel_layer, StopConsumer)",
        "activation/consumers.py DeviceConsumer, activation/enterprise_assistant/consumers.py",
        "without a channel-layer channel per connection (a task and an asyncio.wait per frame, a Redis "
        "round trip per connection); send() must still go through self.base_send",
        _consumer_call,
    ),
    PrivateApi(
        "channels",
        "4.3.2",
        "AsyncConsumer.dispatch overridden; channels.consumer.get_handler_name",
        "activation/consumers.py, activation/enterprise_assistant/consumers.py",
        "skips aclose_old_connections() (a thread hop per frame) in consumers that never use the ORM on "
        "their own thread",
        _consumer_dispatch,
    ),
    PrivateApi(
        "daphne",
        "4.2.3",
        "Server.create_application, handle_reply, protocol_disconnected, listen_success, run, stop, "
        "signal_handlers and connections (each one's application_instance and disconnected mark), "
        "CommandLineInterface.server_class",
        "rps_site/serve.py RpsServer",
        "daphne puts no TLS mark in a WebSocket scope, drops close reasons, and cannot drain: stop "
        "listening on SIGTERM and wait for the open sessions",
        _daphne_server,
    ),
    PrivateApi(
        "autobahn",
        "26.7.1",
        "WebSocketServerProtocol.sendCloseFrame, STATE_OPEN",
        "rps_site/serve.py RpsServer.handle_reply",
        "the public sendClose refuses the standard code 1008 that rpc-go shows",
        _autobahn_close_frame,
    ),
    PrivateApi(
        "python",
        "3.11",
        "ssl._ssl.ENCODING_DER, SSLObject._sslobj.get_unverified_chain",
        "activation/tunnel.py",
        "the peer's whole chain (public as SSLObject.get_unverified_chain from Python 3.13)",
        _ssl_private_chain,
    ),
    PrivateApi(
        "httpx",
        "0.28.1",
        "AsyncHTTPTransport.handle_async_request called directly",
        "devices/mps.py",
        "the client layer (URL merging, cookies, auth, redirects) cost a third of each MPS call and does "
        "nothing for them",
        _httpx_transport,
    ),
    PrivateApi(
        "requests",
        "2.34.2",
        "ConnectionError.args[0].reason (urllib3 MaxRetryError.reason)",
        "rps_site/vault/store.py _maybe_sent",
        "tells a connection that never opened (nothing reached Vault) from a lost answer",
        _requests_connection_error,
    ),
    PrivateApi(
        "urllib3",
        "2.8.0",
        "MaxRetryError.reason",
        "rps_site/vault/store.py _maybe_sent",
        "as above: requests wraps urllib3's error, whose reason is the NewConnectionError",
        _requests_connection_error,
    ),
)
