"""Profile export: permission, encryption, content, audit, throttling (rest-api.md §2.3 export,
SECURITY.md check 17)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from rest_framework.test import APIClient

from profiles.api.profiles import ProfileExportThrottle
from profiles.models import Domain, ProfileExportRecord, WirelessConfig
from rps_site.api.versions import next_version
from rps_site.models import TenantMembership
from rps_site.sensitive import Secret
from rps_site.vault import SecretStore, domain_certificate_path, wireless_config_path
from tests.profiles.api_suite import client_for, response_text, unique_name

URL = "/api/v1/admin/profiles"
AMT = "Export-Amt1!"
MEBX = "Export-Mebx1!"


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    cache.clear()


def portal_client(*, can_export: bool, tenant_id: str = "") -> tuple[APIClient, User]:
    user = User.objects.create_user(username=unique_name("user"), password="x-unused-Pw1!", is_staff=True)
    if tenant_id:
        TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    if can_export:
        user.user_permissions.add(Permission.objects.get(codename="export_profile"))
    client = APIClient()
    client.force_login(user)
    return client, user


def decrypt(payload: dict[str, str]) -> dict[str, Any]:
    raw = base64.b64decode(payload["content"])
    assert len(payload["key"]) == 32
    text = AESGCM(payload["key"].encode("ascii")).decrypt(raw[:12], raw[12:], None).decode("utf-8")
    return yaml.safe_load(text)


def create_profile(tenant_id: str = "", **overrides: Any) -> str:
    name = unique_name("exp")
    body = {
        "profileName": name,
        "activation": "acmactivate",
        "amtPassword": AMT,
        "mebxPassword": MEBX,
        "dhcpEnabled": True,
    }
    body.update(overrides)
    response = client_for(tenant_id).post(URL, body, format="json")
    assert response.status_code == 201, response_text(response)
    return name


@pytest.mark.django_db
def test_permitted_user_gets_the_encrypted_yaml_with_its_secrets(vault: SecretStore, settings: Any) -> None:
    settings.ENTERPRISE_ASSISTANT_URL = "https://ea.corp.example:8000"
    wifi = WirelessConfig.objects.create(
        tenant_id="", version=next_version(), name=unique_name("wifi"), authentication_method=6, encryption_method=4,
        ssid="corp",
    )  # fmt: skip
    vault.create(wireless_config_path("", wifi.name), {"PSK_PASSPHRASE": Secret("Corp-Psk-123")})
    domain = Domain.objects.create(
        tenant_id="", version=next_version(), name=unique_name("dom"), domain_suffix="vpro.example.com",
        provisioning_cert_storage_format="raw",
    )  # fmt: skip
    vault.create(domain_certificate_path("", domain.name), {"CERT": Secret("UEZY"), "CERT_PASSWORD": Secret("Pfx-1!")})
    name = create_profile(wifiConfigs=[{"priority": 1, "profileName": wifi.name}])
    client, user = portal_client(can_export=True)

    response = client.get(f"{URL}/export/{name}", {"domainName": domain.name})

    assert response.status_code == 200, response_text(response)
    assert response["Cache-Control"] == "no-store"
    payload = response.json()
    assert set(payload) == {"filename", "content", "key"} and payload["filename"] == f"{name}.yaml"
    assert AMT not in response_text(response)
    document = decrypt(payload)
    assert document["name"] == name and document["id"] == 0
    specific = document["configuration"]["amtSpecific"]
    assert specific == {
        "controlMode": "acmactivate",
        "adminPassword": AMT,
        "provisioningCert": "UEZY",
        "provisioningCertPwd": "Pfx-1!",
        "mebxPassword": MEBX,
    }
    wired = document["configuration"]["network"]["wired"]
    assert wired["dhcpEnabled"] is True and wired["sharedStaticIP"] is False and wired["ieee8021x"] is None
    profiles = document["configuration"]["network"]["wireless"]["profiles"]
    assert profiles == [
        {
            "profileName": wifi.name,
            "ssid": "corp",
            "priority": 1,
            "authenticationMethod": 6,
            "encryptionMethod": 4,
            "pskPassphrase": "Corp-Psk-123",
            "ieee8021xProfileName": None,
        }
    ]
    # rpc-go's local 802.1X configuration reaches the EA's HTTP API there (enterprise-assistant.md §8).
    assert document["configuration"]["enterpriseAssistant"] == {
        "url": "https://ea.corp.example:8000",
        "username": "",
        "password": "",
    }
    record = ProfileExportRecord.objects.get(profile_name=name)
    assert record.exported_by == user.username and record.tenant_id == ""
    assert AMT not in str(record.__dict__) and payload["key"] not in str(record.__dict__)


@pytest.mark.django_db
def test_unknown_domain_is_ignored_and_ccm_has_no_certificate(vault: SecretStore) -> None:
    name = create_profile(activation="ccmactivate", mebxPassword=None)
    client, _ = portal_client(can_export=True)
    document = decrypt(client.get(f"{URL}/export/{name}", {"domainName": "nope"}).json())
    assert document["configuration"]["amtSpecific"]["provisioningCert"] == ""
    assert document["configuration"]["amtSpecific"]["mebxPassword"] == ""


@pytest.mark.django_db
def test_user_without_the_permission_gets_403_and_nothing_is_recorded(vault: SecretStore) -> None:
    name = create_profile()
    client, _ = portal_client(can_export=False)
    response = client.get(f"{URL}/export/{name}")
    assert response.status_code == 403
    assert set(response.json()) == {"error", "message"}
    no_longer_staff, user = portal_client(can_export=True)
    user.is_staff = False
    user.save()
    assert no_longer_staff.get(f"{URL}/export/{name}").status_code == 403, "the portal's own rule: staff only"
    assert not ProfileExportRecord.objects.filter(profile_name=name).exists()


@pytest.mark.django_db
def test_bearer_tokens_export_only_when_enabled(vault: SecretStore, settings: Any) -> None:
    name = create_profile()
    assert client_for("").get(f"{URL}/export/{name}").status_code == 403
    settings.EXPORT_VIA_JWT = True
    response = client_for("").get(f"{URL}/export/{name}")
    assert response.status_code == 200
    assert decrypt(response.json())["configuration"]["amtSpecific"]["adminPassword"] == AMT
    assert ProfileExportRecord.objects.get(profile_name=name).exported_by.startswith("bearer:")


@pytest.mark.django_db
def test_export_is_tenant_scoped(vault: SecretStore) -> None:
    name = create_profile(tenant_id="tenant-a")
    outsider, _ = portal_client(can_export=True, tenant_id="tenant-b")
    response = outsider.get(f"{URL}/export/{name}")
    assert response.status_code == 404
    assert response.json() == {"error": "Not Found", "message": f"AMT profile {name} Not Found"}
    insider, _ = portal_client(can_export=True, tenant_id="tenant-a")
    assert insider.get(f"{URL}/export/{name}").status_code == 200
    assert ProfileExportRecord.objects.get(profile_name=name).tenant_id == "tenant-a"


@pytest.mark.django_db
def test_export_is_throttled(vault: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProfileExportThrottle, "THROTTLE_RATES", {"profile_export": "2/hour"})
    name = create_profile()
    client, _ = portal_client(can_export=True)
    statuses = [client.get(f"{URL}/export/{name}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert ProfileExportRecord.objects.filter(profile_name=name).count() == 2


@pytest.mark.django_db
def test_unauthenticated_export_is_401(vault: SecretStore) -> None:
    assert APIClient().get(f"{URL}/export/any").status_code == 401


@pytest.mark.django_db
def test_an_unreachable_shared_throttle_store_refuses_the_export_naming_it(vault: SecretStore, settings) -> None:  # type: ignore[no-untyped-def]
    """With several workers the throttle counts in Redis: without it the export fails closed, 503."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from rps_site.openbao_dev import free_port

    name = create_profile()
    settings.CACHES = {
        "default": {
            "BACKEND": "rps_site.shared_cache.SharedRedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "retry": Retry(NoBackoff(), 1)},
        }
    }
    client, _ = portal_client(can_export=True)
    response = client.get(f"{URL}/export/{name}")
    assert response.status_code == 503
    assert response.json() == {
        "error": "Error",
        "message": "The store the workers share (Redis) is unreachable; retry later.",
    }
    assert not ProfileExportRecord.objects.filter(profile_name=name).exists()
