"""The web UI's cross-origin calls in a real browser (Chromium driven by Playwright): a page on the
e2e server's configured UI origin creates, edits (PATCH with If-Match, the call that failed with
"ERROR SAVING WIRELESS PROFILE" in issue 13) and deletes a Wi-Fi profile with the headers the
stock UI's Angular HttpClient sends, and reads an expired token's 401; a page on any other origin
is stopped by the browser's CORS check."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jwt

from rps_site.openbao_dev import free_port
from tests.e2e.conftest import JWT_ISSUER, RpsServer, unique
from tests.e2e.portal_browser import CHROMIUM, needs_chromium

pytestmark = needs_chromium

# What the UI does, in the browser: JSON bodies, a bearer token, If-Match on edits.
UI_CALLS = """
async ({api, token, expired, name}) => {
  const read = async (response) => {
    const text = await response.text();
    return {status: response.status, body: text ? JSON.parse(text) : null, etag: response.headers.get('ETag')};
  };
  const headers = {'Accept': 'application/json, text/plain, */*', 'Authorization': `Bearer ${token}`};
  const json = {...headers, 'Content-Type': 'application/json'};
  const wifi = {profileName: name, authenticationMethod: 4, encryptionMethod: 4, ssid: 'office',
                pskPassphrase: 'Passphrase-' + name, linkPolicy: [14, 16]};
  const created = await read(await fetch(`${api}/wirelessconfigs`,
    {method: 'POST', headers: json, body: JSON.stringify(wifi)}));
  const version = created.body.version;
  const edit = (ssid) => fetch(`${api}/wirelessconfigs`, {method: 'PATCH',
    headers: {...json, 'if-match': version}, body: JSON.stringify({...wifi, ssid, version})});
  const edited = await read(await edit('edited'));
  const stale = await read(await edit('again'));
  const deleted = (await fetch(`${api}/wirelessconfigs/${encodeURIComponent(name)}`,
    {method: 'DELETE', headers})).status;
  const timedOut = await read(await fetch(`${api}/profiles`,
    {headers: {...headers, 'Authorization': `Bearer ${expired}`}}));
  return {created, edited, stale, deleted, timedOut};
}
"""

FOREIGN_CALL = """
async ({api, token}) => {
  try {
    const response = await fetch(`${api}/wirelessconfigs`, {method: 'PATCH',
      headers: {'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json', 'if-match': '1'},
      body: '{}'});
    return `answered ${response.status}`;
  } catch (error) {
    return `blocked: ${error.name}`;
  }
}
"""


class _BlankPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>web UI stand-in</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def serving_a_page(origin: str) -> Iterator[str]:
    address = urlsplit(origin)
    server = ThreadingHTTPServer((address.hostname or "127.0.0.1", address.port or 80), _BlankPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{origin}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_ui_origin_edits_and_other_origins_are_stopped(rps_server: RpsServer) -> None:
    from playwright.sync_api import sync_playwright

    assert rps_server.web_ui_origin
    api = f"https://127.0.0.1:{rps_server.port}/api/v1/admin"
    token = rps_server.token()
    expired = jwt.encode(
        {"tenantId": "", "iss": JWT_ISSUER, "exp": int(time.time()) - 60}, rps_server.jwt_secret, algorithm="HS256"
    )
    name = unique("uiwifi")
    foreign_origin = f"http://127.0.0.1:{free_port()}"
    with (
        serving_a_page(rps_server.web_ui_origin) as ui_page,
        serving_a_page(foreign_origin) as foreign_page,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        context = browser.new_context(ignore_https_errors=True)  # the e2e server's self-signed certificate
        page = context.new_page()
        page.goto(ui_page)
        outcome = page.evaluate(UI_CALLS, {"api": api, "token": token, "expired": expired, "name": name})
        page.goto(foreign_page)
        foreign = page.evaluate(FOREIGN_CALL, {"api": api, "token": token})
        browser.close()

    assert outcome["created"]["status"] == 201, outcome
    assert outcome["edited"]["status"] == 200, outcome
    assert outcome["edited"]["body"]["ssid"] == "edited"
    assert outcome["stale"]["status"] == 412  # readable, so the UI shows "item modified"
    assert outcome["deleted"] == 204
    assert outcome["timedOut"]["status"] == 401
    assert outcome["timedOut"]["body"]["exp"] == "token expired"  # the UI's "session timed out" dialog
    assert foreign == "blocked: TypeError"
