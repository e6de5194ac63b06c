"""CIRA configs: the shared API suite plus the CIRA-specific rules (rest-api.md §2.2)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from profiles.models import CiraConfig
from rps_site.vault import SecretStore, cira_config_path
from tests.profiles.api_suite import ApiResourceSuite, client_for, unique_name
from tests.profiles.factories import cira_body

URL = "/api/v1/admin/ciraconfigs"


class TestCiraConfigApi(ApiResourceSuite):
    url = URL
    model = CiraConfig
    name_field = "configName"
    secret_fields = {"password": "MPS_PASSWORD"}
    not_found = "CIRA profile {name} Not Found"
    duplicate = ("Unique key violation", "CIRA Config {name} already exists.")
    changed_field = ("mpsRootCertificate", "newroot")
    if_match_sets_version = True

    def create_body(self, name: str) -> dict[str, Any]:
        return cira_body(name)

    def update_body(self, name: str, version: str | None) -> dict[str, Any]:
        return {"configName": name, "mpsRootCertificate": "newroot", "version": version}

    def vault_path(self, tenant_id: str, name: str) -> str:
        return cira_config_path(tenant_id, name)


@pytest.fixture
def api(vault: SecretStore, db: None) -> APIClient:
    return client_for("")


def messages(response: Any) -> list[tuple[str, str]]:
    return [(error["path"], error["msg"]) for error in response.json()["errors"]]


def test_create_validation_order(api: APIClient) -> None:
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    assert messages(response) == [
        ("configName", "CIRA profile name is required"),
        ("configName", "CIRA profile name accepts letters, numbers, underscore and hyphen only"),
        ("serverAddressFormat", "MPS server address format is required"),
        ("serverAddressFormat", "MPS server address format should be either 3(IPV4) , 4(IPV6) or 201(FQDN)"),
        ("mpsServerAddress", "MPS server address is required"),
        ("mpsServerAddress", "serverAddressFormat is required"),
        ("mpsPort", "MPS port is required"),
        ("mpsPort", "MPS Port value should range between 1024 and 49151"),
        ("username", "MPS user name is required"),
        ("username", "MPS user name should be alphanumeric"),
        ("username", "MPS user name length should be in between 5 to 16"),
        ("authMethod", "Authentication method is required"),
        ("authMethod", "Authentication method should be either 1 (Mutual Auth) or 2 (username and password)"),
        ("mpsRootCertificate", "MPS public root certificate is required"),
    ]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"serverAddressFormat": 4}, ("mpsServerAddress", "serverAddressFormat 4 requires IPV6 server address")),
        ({"commonName": None}, ("mpsServerAddress", "commonName is required when serverAddressFormat is 3")),
        (
            {"serverAddressFormat": 201, "mpsServerAddress": "Mps.Example.COM"},
            ("mpsServerAddress", "serverAddressFormat 201 requires FQDN server address"),
        ),
        (
            {"mpsServerAddress": "192.168.8.50\n"},
            ("mpsServerAddress", "serverAddressFormat 3 requires IPV4 server address"),
        ),
        ({"commonName": "host.example.com"}, ("commonName", "Cert. Hostname(CN) should be an IP address.")),
        ({"mpsPort": 49152}, ("mpsPort", "MPS Port value should range between 1024 and 49151")),
        ({"username": "admin user"}, ("username", "MPS user name should be alphanumeric")),
    ],
)
def test_create_rules(api: APIClient, overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    response = api.post(URL, cira_body(unique_name(), **overrides), format="json")
    assert response.status_code == 400
    assert messages(response)[0] == expected


def test_accepted_edge_values(api: APIClient) -> None:
    for overrides in (
        {"mpsPort": "1024"},
        {"mpsPort": 49151, "serverAddressFormat": 201, "mpsServerAddress": "mps.example.com", "commonName": "x"},
        {"serverAddressFormat": 4, "mpsServerAddress": "fe80::1", "password": None},
    ):
        response = api.post(URL, cira_body(unique_name(), **overrides), format="json")
        assert response.status_code == 201, (overrides, response.content)
        assert isinstance(response.json()["mpsPort"], int)


def test_patch_rules(api: APIClient) -> None:
    name = unique_name()
    api.post(URL, cira_body(name), format="json")
    cases = [
        ({"mpsServerAddress": "192.168.8.55"}, ("mpsServerAddress", "serverAddressFormat is required")),
        ({"commonName": "192.168.8.55"}, ("commonName", "serverAddressFormat and mpsServerAddress is required")),
        ({"mpsPort": 1024}, ("mpsPort", "MPS Port value should range between 1024 and 49151")),
        ({"mpsPort": "4433"}, ("mpsPort", "MPS Port value should range between 1024 and 49151")),
        ({"serverAddressFormat": 3}, ("serverAddressFormat", "Server address is required to update")),
    ]
    for overrides, expected in cases:
        response = api.patch(URL, {"configName": name, **overrides}, format="json")
        assert response.status_code == 400
        assert messages(response)[0] == expected


def test_patch_password_goes_to_vault_not_the_database(api: APIClient, vault: SecretStore) -> None:
    name = unique_name()
    record = api.post(URL, cira_body(name, password=None), format="json").json()
    assert vault.read(cira_config_path("", name)) is None
    response = api.patch(
        URL, {"configName": name, "password": "N3w-Secret!", "version": record["version"]}, format="json"
    )
    assert response.status_code == 200
    assert "password" not in response.json()
    assert vault.read(cira_config_path("", name)).values["MPS_PASSWORD"].reveal() == "N3w-Secret!"


def test_regenerate_password_is_accepted_and_ignored(api: APIClient) -> None:
    name = unique_name()
    record = api.post(URL, cira_body(name), format="json").json()
    response = api.patch(
        URL, {"configName": name, "regeneratePassword": True, "version": record["version"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["mpsServerAddress"] == "192.168.8.50"


@pytest.fixture
def admin_client_(vault: SecretStore, db: None, django_user_model: Any, client: Any) -> Any:
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def admin_form(name: str) -> dict[str, str]:
    return {
        "name": name,
        "mps_server_address": "192.168.8.50",
        "mps_port": "4433",
        "username": "adminuser",
        "common_name": "192.168.8.50",
        "server_address_format": "3",
        "auth_method": "2",
        "mps_root_certificate": "rootcert",
        "proxy_details": "",
        "mps_password": "Admin-Canary-1!",
    }


def test_admin_writes_the_mps_password_to_vault_only(admin_client_: Any, vault: SecretStore) -> None:
    from django.contrib.admin.models import LogEntry

    from profiles.models import CiraConfig

    name = unique_name()
    form = admin_form(name)
    response = admin_client_.post("/admin/profiles/ciraconfig/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    config = CiraConfig.objects.get(name=name)
    assert vault.read(cira_config_path("", name)).values["MPS_PASSWORD"].reveal() == "Admin-Canary-1!"
    change = {**form, "mps_port": "4434", "mps_password": "Admin-Canary-2!"}
    del change["name"]
    response = admin_client_.post(f"/admin/profiles/ciraconfig/{config.pk}/change/", change)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert vault.read(cira_config_path("", name)).values["MPS_PASSWORD"].reveal() == "Admin-Canary-2!"
    assert CiraConfig.objects.get(pk=config.pk).mps_port == 4434
    messages_logged = " ".join(entry.change_message for entry in LogEntry.objects.all())
    assert "Canary" not in messages_logged and "password" not in messages_logged.lower()
    page = admin_client_.get(f"/admin/profiles/ciraconfig/{config.pk}/change/").content.decode()
    assert "Canary" not in page


@pytest.mark.parametrize("model", ["domain", "ciraconfig", "wirelessconfig", "ieee8021xconfig", "proxyconfig"])
def test_admin_pages_render(admin_client_: Any, model: str) -> None:
    assert admin_client_.get(f"/admin/profiles/{model}/").status_code == 200
    assert admin_client_.get(f"/admin/profiles/{model}/?q=x").status_code == 200
    assert admin_client_.get(f"/admin/profiles/{model}/add/").status_code == 200


def test_values_too_long_for_the_database_are_a_clear_400(api: APIClient) -> None:
    name = unique_name()
    body = cira_body(name, serverAddressFormat=4, mpsServerAddress="1::1" + "f" * 300)
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "type": "field",
            "msg": "mpsServerAddress must be a string of at most 256 characters",
            "path": "mpsServerAddress",
            "location": "body",
        }
    ]


def test_admin_change_refused_by_the_service_shows_why_and_changes_nothing(  # type: ignore[no-untyped-def]
    admin_client_: Any, vault: SecretStore, settings
) -> None:
    from profiles.models import CiraConfig
    from rps_site.openbao_dev import start_dev_vault
    from rps_site.vault import secret_store

    name = unique_name()
    form = admin_form(name)
    assert admin_client_.post("/admin/profiles/ciraconfig/add/", form).status_code == 302
    config = CiraConfig.objects.get(name=name)
    stopped = start_dev_vault()
    stopped.stop()
    settings.VAULT_ADDR, settings.VAULT_TIMEOUT_SECONDS = stopped.addr, 1
    secret_store.cache_clear()
    change = {**form, "mps_port": "4434", "mps_password": "Admin-Canary-2!"}
    del change["name"]
    try:
        response = admin_client_.post(f"/admin/profiles/ciraconfig/{config.pk}/change/", change)
    finally:
        secret_store.cache_clear()
    assert response.status_code == 200
    page = response.content.decode()
    assert "The secret store is unavailable; nothing was changed." in page and 'value="4434"' in page
    assert "Canary" not in page
    assert CiraConfig.objects.get(pk=config.pk).mps_port == 4433
