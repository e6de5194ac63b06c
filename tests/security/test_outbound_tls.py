"""SECURITY.md check 20: MPS and Vault URLs whose certificate is not trusted are refused."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devices.mps import MpsClient
from rps_site.sensitive import Secret
from rps_site.serving import make_self_signed_certificate
from rps_site.vault import SecretStore, VaultUnavailable


@contextmanager
def untrusted_https_server(directory: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server with a self-signed certificate that answers 200 to anything."""
    certificate, key = make_self_signed_certificate(directory)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_DELETE = do_PUT = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.asyncio
async def test_mps_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with untrusted_https_server(tmp_path) as (url, seen):
        outcome = await MpsClient(url).register_device({"guid": "x", "tenantId": ""})
    assert not outcome.ok
    assert "unreachable" in outcome.detail
    assert seen == [], "no request may reach a server whose certificate is not trusted"


def test_vault_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    with untrusted_https_server(tmp_path) as (url, seen):
        store = SecretStore(addr=url, token="t", mount="secret", prefix="", timeout=2, verify=True)
        with pytest.raises(VaultUnavailable):
            store.create("profiles/p", {"AMT_PASSWORD": Secret("x")})
        assert store.health() == "unreachable"
    assert seen == []
