"""IEEE 802.1X configs: the shared API suite plus the EAP rules (rest-api.md §2.5).

Unlike upstream, the EAP password is write-only and kept in Vault, never in the database.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.models import Ieee8021xConfig
from rps_site.vault import SecretStore, ieee8021x_config_path
from tests.profiles.api_suite import ApiResourceSuite, client_for, unique_name
from tests.profiles.factories import ieee8021x_body

URL = "/api/v1/admin/ieee8021xconfigs"


class TestIeee8021xConfigApi(ApiResourceSuite):
    url = URL
    model = Ieee8021xConfig
    name_field = "profileName"
    secret_fields = {"password": "PASSWORD"}
    not_found = "802.1x profile {name} Not Found"
    duplicate = ("Unique key violation", "802.1x config: {name} already exists")
    changed_field = ("pxeTimeout", 0)
    if_match_sets_version = False

    def create_body(self, name: str) -> dict[str, Any]:
        return ieee8021x_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        body = ieee8021x_body(name, pxeTimeout=0, version=version)
        del body["password"]
        return body

    def vault_path(self, tenant_id: str, name: str) -> str:
        return ieee8021x_config_path(tenant_id, name)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def messages(response: Any) -> list[tuple[str, str]]:
    return [(error["path"], error["msg"]) for error in response.json()["errors"]]


def test_protocol_and_pxe_rules(api: APIClient) -> None:
    name = unique_name()
    cases = [
        (
            {"authenticationProtocol": 1},
            (
                "authenticationProtocol",
                "Authentication protocol must be one of 0:EAP-TLS, "
                "3:PEAPv1/EAP-GTC, 5:EAP-FAST/GTC, 10:EAP-FAST/TLS, 2:PEAPv0/EAP-MSCHAPv2",
            ),
        ),
        (
            {"authenticationProtocol": "0"},
            (
                "authenticationProtocol",
                "Authentication protocol must be one of 0:EAP-TLS, "
                "3:PEAPv1/EAP-GTC, 5:EAP-FAST/GTC, 10:EAP-FAST/TLS, 2:PEAPv0/EAP-MSCHAPv2",
            ),
        ),
        (
            {"authenticationProtocol": 3, "wiredInterface": False},
            ("authenticationProtocol", "Authentication protocol must be one of 0:EAP-TLS, 2:PEAPv0/EAP-MSCHAPv2"),
        ),
        ({"pxeTimeout": 86401}, ("pxeTimeout", "PXE Timeout value should be 0 - 86400")),
        ({"pxeTimeout": "120"}, ("pxeTimeout", "PXE Timeout must be number")),
        ({"profileName": "test_#"}, ("profileName", "802.1x profile name should be alphanumeric")),
    ]
    for overrides, expected in cases:
        response = api.post(URL, ieee8021x_body(name, **overrides), format="json")
        assert response.status_code == 400
        assert messages(response)[0] == expected
    body = ieee8021x_body(name)
    del body["pxeTimeout"]
    assert messages(api.post(URL, body, format="json")) == [
        ("pxeTimeout", "PXE Timeout is required"),
        ("pxeTimeout", "PXE Timeout must be number"),
    ]


def test_wireless_profiles_default_the_pxe_timeout(api: APIClient) -> None:
    body = ieee8021x_body(unique_name(), wiredInterface=False, authenticationProtocol=2)
    del body["pxeTimeout"]
    record = api.post(URL, body, format="json").json()
    assert record["pxeTimeout"] == 120 and record["wiredInterface"] is False
    assert list(record) == [
        "profileName",
        "authenticationProtocol",
        "pxeTimeout",
        "wiredInterface",
        "tenantId",
        "version",
    ]


def test_password_is_write_only_kept_by_patch_and_never_in_the_database(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = api.post(URL, ieee8021x_body(name, password="eap-canary-1", username="alice"), format="json").json()
    path = ieee8021x_config_path("", name)
    assert vault.read(path).values["PASSWORD"].reveal() == "eap-canary-1"
    patched = api.patch(URL, {**ieee8021x_body(name), "version": record["version"], "password": None}, format="json")
    assert patched.status_code == 200
    assert vault.read(path).values["PASSWORD"].reveal() == "eap-canary-1"
    patched = api.patch(
        URL, {**ieee8021x_body(name), "version": patched.json()["version"], "password": "eap-canary-2"}, format="json"
    )
    assert vault.read(path).values["PASSWORD"].reveal() == "eap-canary-2"
    row = Ieee8021xConfig.objects.filter(name=name).values().get()
    assert "eap-canary" not in str(row)
    for key in ("password", "username", "domain", "serverName", "roamingIdentity", "activeInS0"):
        assert key not in patched.json()


def test_a_stale_version_returns_the_stored_values(api: APIClient) -> None:
    name = unique_name()
    api.post(URL, ieee8021x_body(name), format="json")
    response = api.patch(URL, ieee8021x_body(name, authenticationProtocol=5, pxeTimeout=0, version=100), format="json")
    assert response.status_code == 409
    assert response.json()["authenticationProtocol"] == 0 and response.json()["pxeTimeout"] == 120


def test_lists_keep_insertion_order(api: APIClient) -> None:
    names = [f"z{unique_name()}", f"a{unique_name()}"]
    for name in names:
        api.post(URL, ieee8021x_body(name), format="json")
    assert [item["profileName"] for item in api.get(URL).json()] == names


def test_a_config_in_use_keeps_a_protocol_the_enterprise_assistant_serves(api: APIClient) -> None:
    """A config alone follows upstream's rules (5 is accepted, as the Postman suite expects); one
    that a profile uses cannot move to a protocol no Enterprise Assistant answers (B5)."""
    from profiles.models import Profile

    alone, used = unique_name(), unique_name()
    versions = {}
    for name in (alone, used):
        response = api.post(URL, ieee8021x_body(name), format="json")
        assert response.status_code == 201, response.content
        versions[name] = response.json()["version"]
    Profile.objects.create(
        name="usesit", activation="ccmactivate", version=1, ieee8021x_config=Ieee8021xConfig.objects.get(name=used)
    )
    body = ieee8021x_body(alone, authenticationProtocol=5, version=versions[alone])
    assert api.patch(URL, body, format="json").status_code == 200
    response = api.patch(URL, ieee8021x_body(used, authenticationProtocol=5, version=versions[used]), format="json")
    assert response.status_code == 400
    assert messages(response) == [
        (
            "authenticationProtocol",
            f"Ieee8021x profile {used} uses 5:EAP-FAST/GTC, which the Enterprise Assistant does not serve; "
            "AMT profiles support 0:EAP-TLS and 2:PEAPv0/EAP-MSCHAPv2 (used by AMT profiles usesit)",
        )
    ]
    assert Ieee8021xConfig.objects.get(name=used).authentication_protocol == 0
    body = ieee8021x_body(used, authenticationProtocol=2, version=versions[used])
    assert api.patch(URL, body, format="json").status_code == 200
