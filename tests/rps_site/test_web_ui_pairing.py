"""The stock sample web UI (v3.65) against this API from its own origin (issue 13).

The UI is an Angular app: HttpClient sends JSON (`Content-Type`), its interceptor adds
`Authorization: Bearer` and, on every edit, `If-Match` with the record's version. Each request
with those headers is preceded by a CORS preflight. These tests replay the preflights the UI
makes for each resource and verb, check that only the configured origin is granted, and that an
expired token's 401 carries the key the UI looks for to show "session timed out".
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from rps_site.vault import SecretStore
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import wireless_body

UI_ORIGIN = "https://webui.example.com"
FOREIGN_ORIGIN = "https://evil.example.net"
ADMIN = "/api/v1/admin"
RESOURCES = ("profiles", "domains", "ciraconfigs", "wirelessconfigs", "ieee8021xconfigs", "proxyconfigs")


def ui_requests() -> list[tuple[str, str, str]]:
    """(method, path, Access-Control-Request-Headers) for what the UI sends cross-origin; the
    header list is what Chromium puts in the preflight: lower case, sorted, comma-separated."""
    requests = []
    for resource in RESOURCES:
        collection, item = f"{ADMIN}/{resource}", f"{ADMIN}/{resource}/some-name"
        requests += [
            ("GET", f"{collection}?$top=25&$skip=0&$count=true", "authorization"),
            ("GET", item, "authorization"),
            ("POST", collection, "authorization,content-type"),
            ("PATCH", collection, "authorization,content-type,if-match"),
            ("DELETE", item, "authorization"),
        ]
    requests.append(("GET", f"{ADMIN}/profiles/export/some-name?domainName=some-domain", "authorization"))
    return requests


def preflight(origin: str, method: str, path: str, headers: str) -> Any:
    return APIClient().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


@pytest.fixture
def ui_origin(settings):  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = [UI_ORIGIN]
    settings.CORS_ALLOW_ALL_ORIGINS = False


@pytest.mark.django_db
@pytest.mark.usefixtures("ui_origin")
@pytest.mark.parametrize(("method", "path", "headers"), ui_requests())
def test_every_preflight_of_the_ui_is_granted_to_its_origin(method: str, path: str, headers: str) -> None:
    response = preflight(UI_ORIGIN, method, path, headers)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == UI_ORIGIN
    allowed_methods = {value.strip() for value in response["Access-Control-Allow-Methods"].split(",")}
    assert method in allowed_methods
    allowed_headers = {value.strip().lower() for value in response["Access-Control-Allow-Headers"].split(",")}
    assert set(headers.split(",")) <= allowed_headers
    assert "Access-Control-Allow-Credentials" not in response  # bearer tokens only, never cookies


@pytest.mark.django_db
@pytest.mark.usefixtures("ui_origin")
@pytest.mark.parametrize(("method", "path", "headers"), ui_requests())
def test_a_foreign_origin_gets_no_grant(method: str, path: str, headers: str) -> None:
    response = preflight(FOREIGN_ORIGIN, method, path, headers)
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


@pytest.mark.django_db
@pytest.mark.usefixtures("ui_origin")
def test_lookalike_origins_are_not_the_ui() -> None:
    for origin in (
        "http://webui.example.com",  # another scheme
        "https://webui.example.com:8443",  # another port
        "https://webui.example.com.evil.net",
        "https://evilwebui.example.com",
        "null",
    ):
        response = preflight(origin, "PATCH", f"{ADMIN}/profiles", "authorization,content-type,if-match")
        assert "Access-Control-Allow-Origin" not in response, origin


@pytest.mark.django_db
def test_with_any_origin_allowed_every_origin_is_granted(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = []
    settings.CORS_ALLOW_ALL_ORIGINS = True
    response = preflight(FOREIGN_ORIGIN, "PATCH", f"{ADMIN}/wirelessconfigs", "authorization,content-type,if-match")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "if-match" in response["Access-Control-Allow-Headers"].lower()


@pytest.mark.django_db
def test_without_configured_origins_no_origin_is_granted(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = []
    settings.CORS_ALLOW_ALL_ORIGINS = False
    response = preflight(UI_ORIGIN, "PATCH", f"{ADMIN}/profiles", "authorization,content-type,if-match")
    assert "Access-Control-Allow-Origin" not in response


def test_the_shipped_settings_allow_what_the_ui_sends() -> None:
    headers = {header.lower() for header in settings.CORS_ALLOW_HEADERS}
    assert {"authorization", "content-type", "if-match", "x-requested-with", "accept"} <= headers
    assert {"GET", "POST", "PATCH", "DELETE", "OPTIONS"} <= set(settings.CORS_ALLOW_METHODS)
    assert "ETag" in settings.CORS_EXPOSE_HEADERS
    assert settings.CORS_URLS_REGEX == r"^/api/.*$"  # the portal and the device endpoint stay same-origin


@pytest.mark.usefixtures("ui_origin")
def test_an_edit_from_the_ui_origin_is_answered_readably(vault: SecretStore, db: None) -> None:
    """The PATCH itself, as the UI sends it after the preflight: If-Match from the record's
    version. The answer (and a 412 on a stale version) carries the grant and exposes ETag."""
    api = client_for("")
    name = unique_name()
    created = api.post(f"{ADMIN}/wirelessconfigs", wireless_body(name), format="json", HTTP_ORIGIN=UI_ORIGIN)
    assert created.status_code == 201, created.content
    assert created["Access-Control-Allow-Origin"] == UI_ORIGIN
    record = created.json()
    body = {**wireless_body(name, ssid="edited-ssid"), "version": record["version"]}
    edited = api.patch(
        f"{ADMIN}/wirelessconfigs", body, format="json", HTTP_ORIGIN=UI_ORIGIN, HTTP_IF_MATCH=record["version"]
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["ssid"] == "edited-ssid"
    assert edited["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "etag" in edited["Access-Control-Expose-Headers"].lower()
    stale = api.patch(
        f"{ADMIN}/wirelessconfigs", body, format="json", HTTP_ORIGIN=UI_ORIGIN, HTTP_IF_MATCH=record["version"]
    )
    assert stale.status_code == 412
    assert stale["Access-Control-Allow-Origin"] == UI_ORIGIN  # the UI can read the conflict


# -- the expired-token 401 -------------------------------------------------------------------


def _token(**claims: object) -> str:
    base = {"tenantId": "", "iss": settings.JWT_ISSUER, "exp": int(time.time()) + 60}
    return jwt.encode({**base, **claims}, settings.JWT_SECRET, algorithm="HS256")


@pytest.mark.django_db
def test_an_expired_token_gets_the_exp_key_the_ui_looks_for(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = [UI_ORIGIN]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(exp=int(time.time()) - 5)}")
    response = client.get(f"{ADMIN}/profiles", HTTP_ORIGIN=UI_ORIGIN)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": "token expired", "exp": "token expired"}
    assert response["Access-Control-Allow-Origin"] == UI_ORIGIN  # else the browser hides the body


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _token(iss="someone-else"), id="wrong-issuer"),
        pytest.param(lambda: jwt.encode({"exp": 1}, "another-key-that-is-long-enough-0123456789"), id="forged"),
        pytest.param(lambda: "garbage", id="garbage"),
    ],
)
def test_other_bad_tokens_are_not_reported_as_expired(token) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token()}")
    response = client.get(f"{ADMIN}/profiles")
    assert response.status_code == 401
    assert "exp" not in response.json()
