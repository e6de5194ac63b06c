"""No input reaches a 500 (issue #11 finding 6): each input below answered 500, or was stored as
garbage, before; now each is a 4xx naming its cause, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.models import Profile, ProxyConfig, WirelessConfig
from rps_site.vault import SecretStore, wireless_config_path
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import proxy_body, wireless_body

PROXIES = "/api/v1/admin/proxyconfigs"
PROFILES = "/api/v1/admin/profiles"
WIRELESS = "/api/v1/admin/wirelessconfigs"


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def raw_post(api: APIClient, url: str, text: str) -> Any:
    return api.generic("POST", url, text.encode("utf-8"), content_type="application/json")


def test_a_300_character_profile_name_is_a_400(api: APIClient) -> None:
    name = "p" * 300
    body = {"profileName": name, "activation": "ccmactivate", "generateRandomPassword": True, "dhcpEnabled": True}
    response = api.post(PROFILES, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "type": "field",
            "msg": "profileName must be a string of at most 256 characters",
            "path": "profileName",
            "location": "body",
        }
    ]
    assert not Profile.objects.filter(name=name).exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "ab\\ud800"}', "The JSON body holds an unpaired UTF-16 surrogate in name."),
        ('{"name": "x", "address": ["\\udfff"]}', "The JSON body holds an unpaired UTF-16 surrogate in address[0]."),
        ('{"\\ud800": 1}', "The JSON body holds a key with an unpaired UTF-16 surrogate in the body."),
        ('{"name": "a\\u0000b"}', "The JSON body holds a NUL character in name."),
        ('{"port": 1e400}', "The JSON body holds a number too large to represent in port."),
    ],
)
def test_text_and_numbers_that_cannot_be_stored_are_a_400(api: APIClient, text: str, message: str) -> None:
    response = raw_post(api, PROXIES, text)
    assert response.status_code == 400
    assert response.json() == {"error": "Bad Request", "message": message}


def test_a_paired_surrogate_is_ordinary_text(api: APIClient) -> None:
    name = unique_name()
    response = raw_post(api, PROXIES, '{"name": "' + name + '", "address": "\\ud83d\\ude00"}')
    assert response.status_code == 400  # the address is not an address, but it was read as text
    assert response.json()["errors"][0]["value"] == "\U0001f600"


def test_nul_anywhere_in_the_url_is_a_400(api: APIClient) -> None:
    for url in (f"{PROFILES}/a%00b", f"{PROFILES}/export/a%00?domainName=x", f"{PROXIES}?$top=1%00"):
        response = api.get(url)
        assert response.status_code == 400, url
        assert response.json() == {"error": "Bad Request", "message": "The URL contains a NUL character."}


def test_json_nested_3000_deep_is_refused_before_it_is_parsed(api: APIClient, settings: Any) -> None:
    for text in ("[" * 3000 + "]" * 3000, '{"a":' * 3000 + "1" + "}" * 3000):
        response = raw_post(api, PROXIES, text)
        assert response.status_code == 400
        assert response.json() == {
            "error": "Bad Request",
            "message": f"The JSON body nests 3000 levels deep; the limit is {settings.API_MAX_JSON_DEPTH}.",
        }
    settings.API_MAX_JSON_DEPTH = 2
    too_deep = raw_post(api, PROXIES, '{"name": [["x"]]}').json()
    assert too_deep["message"].endswith("nests 3 levels deep; the limit is 2.")
    brackets_in_strings = raw_post(api, PROXIES, '{"name": ["[[[", "{{{"]}')
    assert "errors" in brackets_in_strings.json(), "brackets inside strings do not count"


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    from rps_site.api.input_limits import json_depth

    assert json_depth('{"a": [1, {"b": "]]]}}}\\"[[["}], "c": {}}') == 3
    assert json_depth('"[[["') == 0


def test_a_body_over_the_limit_is_a_413_before_anything_else(api: APIClient, settings: Any) -> None:
    settings.API_MAX_BODY_BYTES = 1000
    body = proxy_body(unique_name(), networkDnsSuffix="a" * 2000 + ".com")
    response = api.post(PROXIES, body, format="json")
    assert response.status_code == 413
    length = int(response.wsgi_request.META["CONTENT_LENGTH"])
    assert response.json() == {
        "error": "Payload Too Large",
        "message": f"The request body is {length} bytes; the limit is 1000.",
    }
    assert APIClient().post(PROXIES, body, format="json").status_code == 413, "even before authentication"
    assert not ProxyConfig.objects.filter(name=body["name"]).exists()


def test_a_psk_sent_as_an_object_is_a_type_error_and_nothing_is_stored(api: APIClient, vault: SecretStore) -> None:
    name = unique_name("w")
    body = wireless_body(name, pskPassphrase={"passphrase": "Secret-Canary-1"})
    response = api.post(WIRELESS, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"type": "field", "msg": "pskPassphrase must be a string", "path": "pskPassphrase", "location": "body"}
    ]
    assert "Secret-Canary-1" not in response.content.decode()
    assert not WirelessConfig.objects.filter(name=name).exists()
    assert vault.read(wireless_config_path("", name)) is None


def test_a_number_no_column_holds_is_a_type_error(api: APIClient) -> None:
    name = unique_name()
    response = api.post(PROXIES, proxy_body(name, port=2**40), format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["msg"] == "port must be a number from -2147483648 to 2147483647"


def test_a_256_character_profile_name_with_tls_gets_its_certificates(api: APIClient) -> None:
    """Found by tests/rps_site/test_api_fuzz.py: the TLS certificates' CN overflowed X.509's 64 (500)."""
    name = unique_name() + "x" * (256 - len(unique_name()))
    body = {"profileName": name, "activation": "ccmactivate", "generateRandomPassword": True, "tlsMode": 1}
    response = api.post(PROFILES, {**body, "dhcpEnabled": True}, format="json")
    assert response.status_code == 201, response.content
    assert api.delete(f"{PROFILES}/{name}").status_code == 204


def test_a_provisioning_certificate_sent_as_false_is_checked_not_stored(api: APIClient) -> None:
    """Found by the fuzz: `false` skipped the PFX checks (JS-falsy) and then failed to decrypt (500)."""
    name = unique_name()
    body = {
        "profileName": name,
        "domainSuffix": "example.com",
        "provisioningCert": False,
        "provisioningCertPassword": False,
        "provisioningCertStorageFormat": "string",
    }
    response = api.post("/api/v1/admin/domains", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "provisioningCert"
    assert response.json()["errors"][0]["msg"].startswith("Provisioning certificate is not a PKCS#12 (PFX) file")


def test_a_name_holding_a_newline_is_an_ordinary_json_404(api: APIClient) -> None:
    """Found by the fuzz: such a path matched no route and got Django's HTML 404."""
    for url in (f"{PROFILES}/a%0Ab", "/api/v1/admin/nothing%0Ahere", "/api/x%0Ay"):
        response = api.get(url)
        assert response.status_code == 404, url
        assert set(response.json()) == {"error", "message"}, url
    assert api.get(f"{PROFILES}/export/a%0Ab").json()["error"] == "Forbidden", "the export route, not a 404"
