"""The profile admin portal: a grouped form that validates as the API does and saves through the
services, ordered Wi-Fi and proxy rows, passwords write-only, tenant-scoped, read-only users."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from profiles.models import Profile, ProfileProxyConfig, ProfileWirelessConfig, ProxyConfig, WirelessConfig
from rps_site.api.versions import next_version
from rps_site.models import TenantMembership
from rps_site.openbao_dev import start_dev_vault
from rps_site.vault import SecretStore, profile_passwords_path, secret_store
from tests.profiles.api_suite import client_for, unique_name
from tests.profiles.factories import proxy_body, wireless_body

ADD_URL = "/admin/profiles/profile/add/"
AMT = "Portal-Amt1!"
MEBX = "Portal-Mebx1!"
WIFI_PREFIX, PROXY_PREFIX = "wireless_links", "proxy_links"


def link_rows(prefix: str, rows: list[tuple[int, int]], *, initial: int = 0) -> dict[str, Any]:
    """An inline formset's POST data: its management form and (priority, config id) rows."""
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    config = "wireless_config" if prefix == WIFI_PREFIX else "proxy_config"
    for index, (priority, config_id) in enumerate(rows):
        data[f"{prefix}-{index}-priority"] = str(priority)
        data[f"{prefix}-{index}-{config}"] = str(config_id)
    return data


def form_data(
    name: str,
    *,
    wifi: list[tuple[int, int]] | None = None,
    proxy: list[tuple[int, int]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The grouped form as a browser posts it: checkboxes present only when ticked."""
    data: dict[str, Any] = {
        "name": name,
        "activation": "acmactivate",
        "amt_password": AMT,
        "mebx_password": MEBX,
        "tags": "a, b",
        "dhcp_enabled": "True",
        "ip_sync_enabled": "on",
        "local_wifi_sync_enabled": "on",
        "kvm_enabled": "on",
        "tls_mode": "",
        "tls_signing_authority": "SelfSigned",
        "user_consent": "",
        "cira_config": "",
        "ieee8021x_config": "",
        **link_rows(WIFI_PREFIX, wifi or []),
        **link_rows(PROXY_PREFIX, proxy or []),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def admin_client(db: None, vault: SecretStore) -> Client:
    user = User.objects.create_superuser(username=unique_name("admin"), password="unused-Pw1!x")
    client = Client()
    client.force_login(user)
    return client


def staff_client(tenant_id: str, *codenames: str) -> Client:
    user = User.objects.create_user(username=unique_name("staff"), password="unused-Pw1!x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    TenantMembership.objects.create(user=user, tenant_id=tenant_id)
    client = Client()
    client.force_login(user)
    return client


def wireless(tenant_id: str = "", **overrides: Any) -> WirelessConfig:
    name = unique_name("wifi")
    response = client_for(tenant_id).post(
        "/api/v1/admin/wirelessconfigs", wireless_body(name, **overrides), format="json"
    )
    assert response.status_code == 201, response.content
    return WirelessConfig.objects.get(tenant_id=tenant_id, name=name)


def proxy(tenant_id: str = "") -> ProxyConfig:
    name = unique_name("proxy")
    response = client_for(tenant_id).post("/api/v1/admin/proxyconfigs", proxy_body(name), format="json")
    assert response.status_code == 201, response.content
    return ProxyConfig.objects.get(tenant_id=tenant_id, name=name)


def checkbox_ticked(page: str, name: str) -> bool:
    found = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', page)
    assert found is not None, f"no checkbox {name}"
    return " checked" in found.group(0)


def wifi_order(profile: Profile) -> list[tuple[int, str]]:
    return [
        (link.priority, link.wireless_config.name)
        for link in ProfileWirelessConfig.objects.filter(profile=profile).order_by("priority")
    ]


def test_add_writes_vault_through_the_service_and_logs_no_secret(admin_client: Client, vault: SecretStore) -> None:
    name = unique_name("portal")
    response = admin_client.post(ADD_URL, form_data(name))
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = Profile.objects.get(name=name)
    assert profile.tags == ["a", "b"] and profile.user_consent == "KVM"
    assert (profile.dhcp_enabled, profile.ip_sync_enabled, profile.kvm_enabled, profile.sol_enabled) == (
        True,
        True,
        True,
        False,
    )
    stored = vault.read(profile_passwords_path("", name))
    assert stored is not None and stored.values["AMT_PASSWORD"].reveal() == AMT
    for entry in LogEntry.objects.all():
        assert AMT not in entry.change_message and MEBX not in entry.change_message
        assert "password" not in entry.change_message.lower()
    page = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert AMT not in page and MEBX not in page


def test_the_form_reads_like_the_domain(admin_client: Client) -> None:
    """Grouped as the web UI groups a profile; checkboxes and named choices, not raw values."""
    page = admin_client.get(ADD_URL).content.decode()
    headings = ["Activation", "Passwords", "Network", "Wireless", "802.1X", "TLS", "CIRA", "Features and user consent"]
    positions = [page.index(f'class="fieldset-heading">{heading}</h2>') for heading in headings]
    assert positions == sorted(positions)
    wifi_rows, proxy_rows = page.index(f'id="{WIFI_PREFIX}-group"'), page.index(f'id="{PROXY_PREFIX}-group"')
    assert positions[3] < wifi_rows < positions[4], "the Wi-Fi rows sit in the Wireless group"
    assert positions[6] < proxy_rows < positions[7], "the proxy rows follow CIRA"
    assert "Unknown" not in page and checkbox_ticked(page, "kvm_enabled") and not checkbox_ticked(page, "sol_enabled")
    for label in ("Mutual TLS only", "Client control mode (CCM)", "Required for KVM only", "DHCP", "Static"):
        assert label in page
    assert "Amt password" not in page and "Ieee8021x config" not in page and "Dhcp enabled" not in page


def test_a_profile_gets_ordered_wifi_and_proxy_configs(admin_client: Client) -> None:
    first, second, access_point = wireless(), wireless(), proxy()
    name = unique_name("portal")
    response = admin_client.post(
        ADD_URL, form_data(name, wifi=[(2, first.pk), (1, second.pk)], proxy=[(1, access_point.pk)])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    profile = Profile.objects.get(name=name)
    assert wifi_order(profile) == [(1, second.name), (2, first.name)]
    body = client_for("").get(f"/api/v1/admin/profiles/{name}").json()
    assert [(item["priority"], item["profileName"]) for item in body["wifiConfigs"]] == [
        (1, second.name),
        (2, first.name),
    ]
    assert [(item["priority"], item["name"]) for item in body["proxyConfigs"]] == [(1, access_point.name)]

    # Reordered and one dropped in the change form (rows as the form shows them, by priority).
    links = list(ProfileWirelessConfig.objects.filter(profile=profile).order_by("priority"))
    change = form_data(name, amt_password="", mebx_password="", proxy=[(1, access_point.pk)])
    change.update(link_rows(WIFI_PREFIX, [(3, second.pk), (1, first.pk)], initial=2))
    change.update({f"{WIFI_PREFIX}-0-id": links[0].pk, f"{WIFI_PREFIX}-1-id": links[1].pk})
    change[f"{PROXY_PREFIX}-INITIAL_FORMS"] = "1"
    change[f"{PROXY_PREFIX}-0-id"] = ProfileProxyConfig.objects.get(profile=profile).pk
    change[f"{PROXY_PREFIX}-0-DELETE"] = "on"
    response = admin_client.post(f"/admin/profiles/profile/{profile.pk}/change/", change)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert wifi_order(profile) == [(1, first.name), (3, second.name)]
    assert not ProfileProxyConfig.objects.filter(profile=profile).exists()
    changed = LogEntry.objects.filter(object_id=str(profile.pk)).latest("action_time").get_change_message()
    assert "Wi-Fi configs" in changed or "profile wireless configs" in changed.lower()


@pytest.mark.parametrize(
    ("overrides", "rows", "message"),
    [
        ({"dhcp_enabled": "False"}, [(1, None)], "Wifi supports only DHCP in AMT"),
        ({}, [(300, None)], "wifi config priority should be an integer and between 1 and 255"),
    ],
)
def test_link_errors_are_the_apis_and_nothing_is_stored(
    admin_client: Client, overrides: dict[str, Any], rows: list[tuple[int, Any]], message: str
) -> None:
    config = wireless()
    name = unique_name("portal")
    data = form_data(name, wifi=[(priority, config.pk) for priority, _ in rows], **overrides)
    response = admin_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Profile.objects.filter(name=name).exists()

    body = {
        "profileName": name,
        "activation": "ccmactivate",
        "generateRandomPassword": True,
        "dhcpEnabled": overrides.get("dhcp_enabled", "True") == "True",
        "wifiConfigs": [{"profileName": config.name, "priority": priority} for priority, _ in rows],
    }
    answer = client_for("").post("/api/v1/admin/profiles", body, format="json")
    assert answer.status_code == 400 and message in [error["msg"] for error in answer.json()["errors"]]


def test_another_tenants_configs_cannot_be_attached(db: None, vault: SecretStore) -> None:
    """A forged row naming another tenant's Wi-Fi or proxy config is refused; nothing is stored."""
    theirs_wifi, theirs_proxy = wireless("tenant-b"), proxy("tenant-b")
    client = staff_client("tenant-a", "add_profile", "change_profile", "view_profile")
    page = client.get(ADD_URL).content.decode()
    assert theirs_wifi.name not in page and theirs_proxy.name not in page
    name = unique_name("portal")
    data = form_data(name, activation="ccmactivate", mebx_password="", user_consent="All")
    for rows in ({"wifi": [(1, theirs_wifi.pk)]}, {"proxy": [(1, theirs_proxy.pk)]}):
        response = client.post(
            ADD_URL,
            {
                **data,
                **link_rows(WIFI_PREFIX, rows.get("wifi", [])),
                **link_rows(PROXY_PREFIX, rows.get("proxy", [])),
            },
        )
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not Profile.objects.filter(name=name).exists()
    assert not ProfileWirelessConfig.objects.filter(wireless_config=theirs_wifi).exists()


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


def test_an_unset_flag_shows_what_the_device_gets(admin_client: Client) -> None:
    """A profile stored through the API without ipSyncEnabled: AMT keeps IP sync on (§4.7.2),
    so the checkbox is ticked; KVM unset means off."""
    profile = Profile.objects.create(
        tenant_id="", version=next_version(), name=unique_name("legacy"), activation="ccmactivate"
    )
    page = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert checkbox_ticked(page, "ip_sync_enabled") and checkbox_ticked(page, "local_wifi_sync_enabled")
    assert not checkbox_ticked(page, "kvm_enabled") and not checkbox_ticked(page, "uefi_wifi_sync_enabled")


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
    client = staff_client("tenant-a", "add_profile", "change_profile", "view_profile", "delete_profile")
    listing = client.get("/admin/profiles/profile/").content.decode()
    assert mine.name in listing and theirs.name not in listing
    assert client.get(f"/admin/profiles/profile/{theirs.pk}/change/").status_code in (302, 404)
    response = client.post(
        ADD_URL, form_data(unique_name("new"), activation="ccmactivate", mebx_password="", user_consent="All")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Profile.objects.filter(tenant_id="tenant-a").count() == 2


def test_a_read_only_user_sees_but_cannot_change(db: None, vault: SecretStore) -> None:
    config = wireless("tenant-r")
    profile = Profile.objects.create(
        tenant_id="tenant-r",
        version=next_version(),
        name=unique_name("ro"),
        activation="ccmactivate",
        dhcp_enabled=True,
    )
    ProfileWirelessConfig.objects.create(profile=profile, wireless_config=config, priority=1)
    client = staff_client("tenant-r", "view_profile")
    page = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert profile.name in page and config.name in page and "AMT: stored in Vault" in page
    assert 'name="_save"' not in page and 'type="password"' not in page
    assert 'name="name"' not in page and f'name="{WIFI_PREFIX}-0-wireless_config"' not in page
    assert client.get(ADD_URL).status_code == 403
    response = client.post(f"/admin/profiles/profile/{profile.pk}/change/", form_data(profile.name, tags="x"))
    assert response.status_code == 403
    profile.refresh_from_db()
    assert profile.tags is None and wifi_order(profile) == [(1, config.name)]
