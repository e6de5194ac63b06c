"""Reads of AMT profiles, always within one tenant.

Records are built from `.values()` rows (no serializer machinery on the hot list path) in
upstream's key order (rest-api.md §2.3): wifi links by priority, proxy links by name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models.functions import Lower

from profiles.models import (
    Ieee8021xConfig,
    Profile,
    ProfileProxyConfig,
    ProfileWirelessConfig,
    ProxyConfig,
    WirelessConfig,
)
from rps_site.api.paging import Page, paged_body
from rps_site.api.rendered_cache import RenderedCache, collection_fingerprint, render_json

RECORD_COLUMNS = (
    "id",
    "name",
    "activation",
    "cira_config__name",
    "generate_random_password",
    "generate_random_mebx_password",
    "tags",
    "dhcp_enabled",
    "tls_mode",
    "user_consent",
    "ider_enabled",
    "kvm_enabled",
    "sol_enabled",
    "tenant_id",
    "tls_signing_authority",
    "version",
    "ieee8021x_config__name",
    "ip_sync_enabled",
    "local_wifi_sync_enabled",
    "uefi_wifi_sync_enabled",
)


def _scoped(tenant_id: str) -> Any:
    return Profile.objects.filter(tenant_id=tenant_id)


def profile_get(*, tenant_id: str, name: str) -> Profile | None:
    return _scoped(tenant_id).filter(name__iexact=name).select_related("cira_config", "ieee8021x_config").first()


def _wifi_links(profile_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    links: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        ProfileWirelessConfig.objects.filter(profile_id__in=list(profile_ids))
        .order_by("priority", Lower("wireless_config__name"))
        .values_list("profile_id", "priority", "wireless_config__name")
    )
    for profile_id, priority, name in rows:
        links[profile_id].append({"priority": priority, "profileName": name})
    return links


def _proxy_links(profile_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    links: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        ProfileProxyConfig.objects.filter(profile_id__in=list(profile_ids))
        .order_by(Lower("proxy_config__name"), "priority")
        .values_list("profile_id", "proxy_config__name", "priority")
    )
    for profile_id, name, priority in rows:
        links[profile_id].append({"name": name, "priority": priority})
    return links


def _record(row: dict[str, Any], wifi: list[dict[str, Any]], proxy: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "profileName": row["name"],
        "activation": row["activation"],
        "ciraConfigName": row["cira_config__name"],
        "generateRandomPassword": row["generate_random_password"],
        "generateRandomMEBxPassword": row["generate_random_mebx_password"],
        "tags": row["tags"],
        "dhcpEnabled": row["dhcp_enabled"],
        "tlsMode": row["tls_mode"],
        "userConsent": row["user_consent"],
        "iderEnabled": row["ider_enabled"],
        "kvmEnabled": row["kvm_enabled"],
        "solEnabled": row["sol_enabled"],
        "tenantId": row["tenant_id"],
        "tlsSigningAuthority": row["tls_signing_authority"],
        "version": str(row["version"]),
        "ieee8021xProfileName": row["ieee8021x_config__name"],
        "wifiConfigs": wifi,
        "ipSyncEnabled": row["ip_sync_enabled"],
        "localWifiSyncEnabled": row["local_wifi_sync_enabled"],
        "uefiWifiSyncEnabled": row["uefi_wifi_sync_enabled"],
        "proxyConfigs": proxy,
    }


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [row["id"] for row in rows]
    wifi, proxy = (_wifi_links(ids), _proxy_links(ids)) if ids else ({}, {})
    return [_record(row, wifi.get(row["id"], []), proxy.get(row["id"], [])) for row in rows]


def profile_record(*, tenant_id: str, name: str) -> dict[str, Any] | None:
    """One profile as the API answers it (no secrets), or None."""
    rows = list(_scoped(tenant_id).filter(name__iexact=name).values(*RECORD_COLUMNS)[:1])
    return _records(rows)[0] if rows else None


def profile_record_of_unlinked(profile: Profile) -> dict[str, Any]:
    """The record of a profile just written without Wi-Fi or proxy links, from memory."""
    row = {column: _attribute_path(profile, column) for column in RECORD_COLUMNS}
    return _record(row, [], [])


def _attribute_path(obj: Any, column: str) -> Any:
    for part in column.split("__"):
        obj = getattr(obj, part) if obj is not None else None
    return obj


def profile_record_by_id(*, tenant_id: str, profile_id: int) -> dict[str, Any]:
    rows = list(_scoped(tenant_id).filter(pk=profile_id).values(*RECORD_COLUMNS))
    return _records(rows)[0]


def profile_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = list(_scoped(tenant_id).order_by(Lower("name"), "id").values(*RECORD_COLUMNS)[page.skip : page.stop])
    return _records(rows)


def profile_count(*, tenant_id: str) -> int:
    return int(_scoped(tenant_id).count())


rendered_profiles = RenderedCache()


def profile_list_body(*, tenant_id: str, page: Page) -> bytes:
    """The list response body, rendered once per state of the tenant's profiles."""
    fingerprint = collection_fingerprint(Profile._meta.db_table, tenant_id)
    key = ("list", tenant_id, fingerprint, page)
    body = rendered_profiles.get_or_render(
        key,
        lambda: render_json(
            paged_body(page, profile_list(tenant_id=tenant_id, page=page), lambda: profile_count(tenant_id=tenant_id))
        ),
    )
    assert body is not None
    return body


def profile_record_body(*, tenant_id: str, name: str) -> bytes | None:
    """One profile's response body, or None when the tenant has no such profile."""
    fingerprint = collection_fingerprint(Profile._meta.db_table, tenant_id)

    def render() -> bytes | None:
        record = profile_record(tenant_id=tenant_id, name=name)
        return None if record is None else render_json(record)

    return rendered_profiles.get_or_render(("one", tenant_id, fingerprint, name.lower()), render)


# --- look-ups the validators need --------------------------------------------------------------


def _lower_names(names: Iterable[Any]) -> set[str]:
    return {name.lower() for name in names if isinstance(name, str)}


def wireless_names_missing(*, tenant_id: str, names: list[Any]) -> list[Any]:
    """The requested wifi config names (request order) that the tenant does not have."""
    known = _lower_names(
        WirelessConfig.objects.filter(tenant_id=tenant_id)
        .annotate(lower_name=Lower("name"))
        .filter(lower_name__in=_lower_names(names))
        .values_list("name", flat=True)
    )
    return [name for name in names if not isinstance(name, str) or name.lower() not in known]


def proxy_names_missing(*, tenant_id: str, names: list[Any]) -> list[Any]:
    known = _lower_names(
        ProxyConfig.objects.filter(tenant_id=tenant_id)
        .annotate(lower_name=Lower("name"))
        .filter(lower_name__in=_lower_names(names))
        .values_list("name", flat=True)
    )
    return [name for name in names if not isinstance(name, str) or name.lower() not in known]


def ieee8021x_config_find(*, tenant_id: str, name: Any) -> Ieee8021xConfig | None:
    if not isinstance(name, str):
        return None
    return Ieee8021xConfig.objects.filter(tenant_id=tenant_id, name__iexact=name).first()
