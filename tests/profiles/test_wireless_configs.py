"""Wireless configs: the shared API suite plus the Wi-Fi rules (rest-api.md §2.4)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.models import WirelessConfig
from rps_site.vault import SecretStore, wireless_config_path
from tests.profiles.api_suite import ApiResourceSuite, client_for, unique_name
from tests.profiles.factories import ieee8021x_body, wireless_body

URL = "/api/v1/admin/wirelessconfigs"


class TestWirelessConfigApi(ApiResourceSuite):
    url = URL
    model = WirelessConfig
    name_field = "profileName"
    secret_fields = {"pskPassphrase": "PSK_PASSPHRASE"}
    not_found = "Wireless profile {name} Not Found"
    duplicate = ("Unique key violation", "Wireless profile {name} already exists")
    changed_field = ("ssid", "changed")
    if_match_sets_version = False

    def create_body(self, name: str) -> dict[str, Any]:
        return wireless_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        return wireless_body(name, ssid="changed", version=version)

    def vault_path(self, tenant_id: str, name: str) -> str:
        return wireless_config_path(tenant_id, name)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def messages(response: Any) -> list[tuple[str, str]]:
    return [(error["path"], error["msg"]) for error in response.json()["errors"]]


def test_create_validation_order(api: APIClient) -> None:
    assert messages(api.post(URL, {}, format="json")) == [
        ("profileName", "Wireless profile name is required"),
        ("profileName", "Wireless profile name should be alphanumeric"),
        ("authenticationMethod", "Authentication method is required"),
        (
            "authenticationMethod",
            "Authentication method must be one of 4:WPA PSK, 5:WPA IEEE 802.1x, 6:WPA2 PSK, 7:WPA2 IEEE 802.1x",
        ),
        ("encryptionMethod", "Encryption method is required"),
        ("encryptionMethod", "Encryption method must be one of 3:TKIP, 4:CCMP"),
        ("ssid", "SSID is required"),
    ]


def test_link_policy_rules(api: APIClient) -> None:
    response = api.post(URL, wireless_body(unique_name(), linkPolicy="1"), format="json")
    assert messages(response) == [
        ("linkPolicy", "LinkPolicy should be an array of integers"),
        ("linkPolicy", "value.every is not a function"),
        ("linkPolicy", "value.every is not a function"),
    ]
    response = api.post(URL, wireless_body(unique_name(), linkPolicy=[1, 2]), format="json")
    assert messages(response)[0][1].startswith("Array values should be either 1: available on S0 AC")


def test_a_short_passphrase_is_rejected_without_echo(api: APIClient) -> None:
    response = api.post(URL, wireless_body(unique_name(), pskPassphrase="short"), format="json")
    assert response.json()["errors"] == [
        {
            "type": "field",
            "msg": "PSK Passphrase length should be greater than or equal to 8 and less than or equal to 63",
            "path": "pskPassphrase",
            "location": "body",
        }
    ]


def test_ieee8021x_reference_rules(api: APIClient) -> None:
    wired, wireless = unique_name("wired"), unique_name("wless")
    assert api.post("/api/v1/admin/ieee8021xconfigs", ieee8021x_body(wired), format="json").status_code == 201
    assert (
        api.post(
            "/api/v1/admin/ieee8021xconfigs", ieee8021x_body(wireless, wiredInterface=False), format="json"
        ).status_code
        == 201
    )
    name = unique_name()
    cases = [
        ({"authenticationMethod": 5}, ("ieee8021xProfileName", "ieee8021xProfileName is required")),
        (
            {"ieee8021xProfileName": "errant"},
            (
                "ieee8021xProfileName",
                "ieee8021xProfileName can not be specified with the provided authenticationMethod",
            ),
        ),
        (
            {"authenticationMethod": 5, "ieee8021xProfileName": "notInDb"},
            ("ieee8021xProfileName", "Ieee8021x profile notInDb does not exist in db"),
        ),
        (
            {"authenticationMethod": 5, "ieee8021xProfileName": wired},
            ("ieee8021xProfileName", f"Ieee8021x profile {wired} is for wired interfaces"),
        ),
    ]
    for overrides, expected in cases:
        assert messages(api.post(URL, wireless_body(name, **overrides), format="json"))[0] == expected
    created = api.post(URL, wireless_body(name, authenticationMethod=7, ieee8021xProfileName=wireless), format="json")
    assert created.status_code == 201
    assert created.json()["ieee8021xProfileName"] == wireless
    assert api.delete(f"/api/v1/admin/ieee8021xconfigs/{wireless}").json() == {
        "error": "Error",
        "message": f"802.1x config: {wireless} is associated with a wireless profile.",
    }


def test_patch_requires_the_version_and_keeps_the_passphrase_out_of_the_database(
    api: APIClient, vault: SecretStore
) -> None:
    from profiles.models import WirelessConfig

    name = unique_name()
    record = api.post(URL, wireless_body(name), format="json").json()
    missing = api.patch(URL, wireless_body(name), format="json")
    assert messages(missing) == [("version", "Version is required to patch/update a record.")]
    response = api.patch(
        URL, wireless_body(name, pskPassphrase="brand-new-psk", version=record["version"]), format="json"
    )
    assert response.status_code == 200
    assert "pskValue" not in response.json() and "pskPassphrase" not in response.json()
    assert vault.read(wireless_config_path("", name)).values["PSK_PASSPHRASE"].reveal() == "brand-new-psk"
    row = WirelessConfig.objects.filter(name=name).values().get()
    assert "brand-new-psk" not in str(row)


def test_list_items_carry_the_total_count(api: APIClient) -> None:
    api.post(URL, wireless_body(unique_name()), format="json")
    items = api.get(URL).json()
    assert all(item["total_count"] == str(len(items)) for item in items)
    assert list(items[0])[5:8] == ["linkPolicy", "total_count", "tenantId"]
