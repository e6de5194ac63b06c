"""The config forms (CIRA, Wi-Fi, 802.1X, proxy, domains) read like the domain: named choices
instead of numbers, grouped fields, and the API's own error texts for the same input."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from profiles.models import CiraConfig, WirelessConfig
from rps_site.vault import SecretStore
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import cira_body, wireless_body


@pytest.fixture
def admin_client(db: None, vault: SecretStore) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser(username=unique_name("admin"), password="unused-Pw1!x"))
    return client


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("ciraconfig", ["IPv4 address", "Host name (FQDN)", "Mutual TLS", "Username and password", "MPS server"]),
        ("wirelessconfig", ["WPA2 PSK", "WPA2 with 802.1X", "CCMP (AES)", "Running, on AC power (S0 AC)"]),
        ("ieee8021xconfig", ["EAP-TLS", "PEAPv0/EAP-MSCHAPv2", "Wired", "Wireless", "PXE timeout"]),
        ("proxyconfig", ["Proxy address", "Network DNS suffix"]),
        ("domain", ["DNS suffix", "Provisioning certificate", "Certificate password"]),
    ],
)
def test_named_choices_and_labels(admin_client: Client, model: str, shown: list[str]) -> None:
    page = admin_client.get(f"/admin/profiles/{model}/add/").content.decode()
    for text in shown:
        assert text in page, text
    assert 'type="number" name="server_address_format"' not in page and 'name="auth_method" type="number"' not in page


def api_messages(path: str, body: dict[str, Any]) -> list[str]:
    response = client_for("").post(f"/api/v1/admin/{path}", body, format="json")
    assert response.status_code == 400, response.content
    return [error["msg"] for error in response.json()["errors"]]


def test_cira_errors_are_the_apis(admin_client: Client) -> None:
    name = unique_name("cira")
    form = {
        "name": name,
        "server_address_format": "3",
        "mps_server_address": "192.168.8.50",
        "mps_port": "4433",
        "common_name": "",
        "auth_method": "2",
        "username": "admin",
        "mps_password": "",
        "mps_root_certificate": "rootcert",
        "proxy_details": "",
    }
    page = admin_client.post("/admin/profiles/ciraconfig/add/", form).content.decode()
    body = cira_body(name)
    del body["commonName"]
    expected = api_messages("ciraconfigs", body)
    assert expected == ["commonName is required when serverAddressFormat is 3"]
    assert expected[0] in page
    assert not CiraConfig.objects.filter(name=name).exists()


def test_wifi_errors_are_the_apis(admin_client: Client) -> None:
    name = unique_name("wifi")
    form = {
        "name": name,
        "ssid": "office",
        "authentication_method": "6",
        "encryption_method": "4",
        "psk_passphrase": "short",
        "ieee8021x_config": "",
    }
    page = admin_client.post("/admin/profiles/wirelessconfig/add/", form).content.decode()
    expected = api_messages("wirelessconfigs", wireless_body(name, authenticationMethod=6, pskPassphrase="short"))
    assert expected and all(message in page for message in expected)
    assert 'value="short"' not in page
    assert not WirelessConfig.objects.filter(name=name).exists()
