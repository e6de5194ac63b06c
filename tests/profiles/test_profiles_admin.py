"""The profile admin portal: saves through the services, passwords write-only, tenant-scoped."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from profiles.models import Profile
from rps_site.api.versions import next_version
from rps_site.models import TenantMembership
from rps_site.openbao_dev import start_dev_vault
from rps_site.vault import SecretStore, profile_passwords_path, secret_store
from tests.profiles.api_suite import unique_name

ADD_URL = "/admin/profiles/profile/add/"
AMT = "Portal-Amt1!"
MEBX = "Portal-Mebx1!"


def form_data(name: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "activation": "acmactivate",
        "amt_password": AMT,
        "mebx_password": MEBX,
        "tags": "a, b",
        "dhcp_enabled": "true",
        "ip_sync_enabled": "unknown",
        "local_wifi_sync_enabled": "unknown",
        "uefi_wifi_sync_enabled": "unknown",
        "tls_mode": "",
        "tls_signing_authority": "",
        "user_consent": "",
        "ider_enabled": "unknown",
        "kvm_enabled": "unknown",
        "sol_enabled": "unknown",
        "cira_config": "",
        "ieee8021x_config": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def admin_client(db: None, vault: SecretStore) -> Client:
    user = User.objects.create_superuser(username=unique_name("admin"), password="unused-Pw1!x")
    client = Client()
    client.force_login(user)
    return client


def staff_client(tenant_id: str) -> Client:
    user = User.objects.create_user(username=unique_name("staff"), password="unused-Pw1!x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="_profile"))
    TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = Client()
    client.force_login(user)
    return client


def test_add_writes_vault_through_the_service_and_logs_no_secret(admin_client: Client, vault: SecretStore) -> None:
    name = unique_name("portal")
    response = admin_client.post(ADD_URL, form_data(name))
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = Profile.objects.get(name=name)
    assert profile.tags == ["a", "b"] and profile.user_consent == "KVM"
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == AMT
    for entry in LogEntry.objects.all():
        assert AMT not in entry.change_message and MEBX not in entry.change_message
        assert "password" not in entry.change_message.lower()
    page = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert AMT not in page and MEBX not in page


def test_a_refused_save_shows_why_on_the_form_with_the_input_kept(  # type: ignore[no-untyped-def]
    admin_client: Client, settings
) -> None:
    """Vault unreachable: the service saves nothing, and the portal says so on the form, which
    keeps what was typed (but never renders a password back)."""
    stopped = start_dev_vault()
    stopped.stop()
    settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT_SECONDS = stopped.addr, stopped.root_token, 1
    secret_store.cache_clear()
    name = unique_name("portal")
    try:
        response = admin_client.post(ADD_URL, form_data(name, tags="kept, typed"))
    finally:
        secret_store.cache_clear()
    assert response.status_code == 200
    page = response.content.decode()
    assert "The secret store is unavailable; nothing was changed." in page
    assert f'value="{name}"' in page and "kept, typed" in page
    assert AMT not in page and MEBX not in page
    assert not Profile.objects.filter(name=name).exists()
    assert not LogEntry.objects.filter(object_repr=name).exists()


def test_change_keeps_the_stored_password_and_hides_it_from_the_log(admin_client: Client, vault: SecretStore) -> None:
    name = unique_name("portal")
    admin_client.post(ADD_URL, form_data(name))
    profile = Profile.objects.get(name=name)
    data = form_data(name, amt_password="", mebx_password="", tags="changed")
    response = admin_client.post(f"/admin/profiles/profile/{profile.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert profile.tags == ["changed"]
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["MEBX_PASSWORD"].reveal() == MEBX
    new = "Portal-New1!"
    response = admin_client.post(f"/admin/profiles/profile/{profile.pk}/change/", {**data, "amt_password": new})
    assert response.status_code == 302
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == new
    for entry in LogEntry.objects.filter(object_id=str(profile.pk)):
        assert new not in entry.change_message and "password" not in entry.change_message.lower()


def test_validation_errors_show_on_the_form(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data(unique_name("portal"), amt_password="weak"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "AMT password is required field" in page and "weak" not in page


@pytest.mark.django_db(transaction=True)  # secrets are destroyed on the commit
def test_delete_destroys_the_secret(admin_client: Client, vault: SecretStore) -> None:
    name = unique_name("portal")
    admin_client.post(ADD_URL, form_data(name))
    profile = Profile.objects.get(name=name)
    response = admin_client.post(f"/admin/profiles/profile/{profile.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Profile.objects.filter(pk=profile.pk).exists()
    assert vault.read(profile_passwords_path("", name)) is None


def test_staff_see_only_their_tenant(db: None, vault: SecretStore) -> None:
    mine = Profile.objects.create(
        tenant_id="tenant-a", version=next_version(), name=unique_name("a"), activation="ccmactivate"
    )
    theirs = Profile.objects.create(
        tenant_id="tenant-b", version=next_version(), name=unique_name("b"), activation="ccmactivate"
    )
    client = staff_client("tenant-a")
    listing = client.get("/admin/profiles/profile/").content.decode()
    assert mine.name in listing and theirs.name not in listing
    assert client.get(f"/admin/profiles/profile/{theirs.pk}/change/").status_code in (302, 404)
    response = client.post(ADD_URL, form_data(unique_name("new"), activation="ccmactivate", mebx_password=""))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Profile.objects.filter(tenant_id="tenant-a").count() == 2
