"""Proxy configs: the shared API suite plus the proxy rules (rest-api.md §2.6)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.api.proxy_configs import is_fqdn, is_port
from profiles.models import ProxyConfig
from profiles.services.proxy_configs import info_format
from rps_site.vault import SecretStore
from tests.profiles.api_suite import CoreSuite, client_for, unique_name
from tests.profiles.factories import proxy_body

URL = "/api/v1/admin/proxyconfigs"


class TestProxyConfigApi(CoreSuite):  # no version, no secret (rest-api.md §2.6)
    url = URL
    model = ProxyConfig
    name_field = "name"
    not_found = "Proxy profile {name} Not Found"
    duplicate = ("Unique key violation", "Proxy profile {name} already exists")
    changed_field = ("port", 8080)

    def create_body(self, name: str) -> dict[str, Any]:
        return proxy_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        return proxy_body(name, port=8080)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def messages(response: Any) -> list[tuple[str, str]]:
    return [(error["path"], error["msg"]) for error in response.json()["errors"]]


def test_create_validation_order(api: APIClient) -> None:
    assert messages(api.post(URL, {}, format="json")) == [
        ("name", "Proxy profile name is required"),
        ("name", "Proxy profile name should be alphanumeric"),
        ("address", "Server address is required"),
        ("address", "Server address must be a valid IPv4, IPv6, or FQDN"),
        ("port", "Invalid value"),
        ("port", "Port value should range between 1 and 65535"),
        ("networkDnsSuffix", "Domain name of the network is required"),
        ("networkDnsSuffix", "Domain name of the network should contain alphanumeric and hyphens in the middle"),
    ]


def test_info_format_is_derived_from_the_address(api: APIClient) -> None:
    assert (info_format("10.0.0.1"), info_format("fe80::1"), info_format("www.vprodemo.com")) == (3, 4, 201)
    record = api.post(URL, proxy_body(unique_name(), address="10.1.2.3", infoFormat=4), format="json").json()
    assert record["infoFormat"] == 3 and "version" not in record


def test_port_and_dns_suffix_follow_validator_js() -> None:
    assert is_port("0") and is_port("65535") and not is_port("65536") and not is_port("080")
    assert is_fqdn("intel.com") and not is_fqdn("-intel.com") and not is_fqdn("a_b.com") and not is_fqdn("intel.c0m1")
    assert not is_fqdn("intel.com.") and not is_fqdn("localhost")


def test_address_and_port_clash_reports_the_new_name(api: APIClient) -> None:
    first = proxy_body(unique_name())
    api.post(URL, first, format="json")
    second = proxy_body(unique_name(), address=str(first["address"]).upper())
    assert api.post(URL, second, format="json").json() == {
        "error": "Unique key violation",
        "message": f"Proxy profile {second['name']} already exists",
    }


def test_patch_without_a_name_is_404_undefined(api: APIClient) -> None:
    body = proxy_body("x")
    del body["name"]
    assert api.patch(URL, body, format="json").json() == {
        "error": "Not Found",
        "message": "Proxy profile undefined Not Found",
    }


def test_values_too_long_for_the_database_are_a_clear_400(api: APIClient) -> None:
    name = unique_name()
    response = api.post(URL, proxy_body(name, address="ab." * 100 + "com"), format="json")
    assert response.status_code == 400
    assert [error["msg"] for error in response.json()["errors"]] == [
        "address must be a string of at most 256 characters"
    ]
