"""Reads of wireless configs, always within one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models.functions import Lower

from profiles.api.common import row_of
from profiles.models import Ieee8021xConfig, WirelessConfig
from rps_site.api.paging import Page

WIRELESS_COLUMNS = (
    "name",
    "authentication_method",
    "encryption_method",
    "ssid",
    "psk_value",
    "link_policy",
    "tenant_id",
    "ieee8021x_config__name",
    "version",
)


def wireless_config_get(*, tenant_id: str, name: str) -> WirelessConfig | None:
    return (
        WirelessConfig.objects.select_related("ieee8021x_config").filter(tenant_id=tenant_id, name__iexact=name).first()
    )


def wireless_config_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = WirelessConfig.objects.filter(tenant_id=tenant_id).order_by(Lower("name"), "id").values(*WIRELESS_COLUMNS)
    return list(rows[page.skip : page.stop])


def wireless_config_count(*, tenant_id: str) -> int:
    return WirelessConfig.objects.filter(tenant_id=tenant_id).count()


def ieee8021x_config_for_wireless(*, tenant_id: str, name: str) -> Ieee8021xConfig | None:
    return Ieee8021xConfig.objects.filter(tenant_id=tenant_id, name__iexact=name).first()


def wireless_config_record(row: Mapping[str, Any], *, with_psk_value: bool = True) -> dict[str, Any]:
    """The API shape in upstream's key order; the passphrase is never part of it."""
    record: dict[str, Any] = {
        "profileName": row["name"],
        "authenticationMethod": row["authentication_method"],
        "encryptionMethod": row["encryption_method"],
        "ssid": row["ssid"],
        "pskValue": row["psk_value"],
        "linkPolicy": row["link_policy"],
        "tenantId": row["tenant_id"],
        "ieee8021xProfileName": row["ieee8021x_config__name"],
        "version": str(row["version"]),
    }
    if not with_psk_value:  # upstream's PATCH answer leaves it out
        del record["pskValue"]
    return record


def wireless_config_list_record(row: Mapping[str, Any], total_count: int) -> dict[str, Any]:
    """List items carry upstream's window count as a string, between linkPolicy and tenantId."""
    record = wireless_config_record(row)
    items = list(record.items())
    position = [key for key, _ in items].index("tenantId")
    items.insert(position, ("total_count", str(total_count)))
    return dict(items)


def wireless_config_record_of(config: WirelessConfig, *, with_psk_value: bool = True) -> dict[str, Any]:
    return wireless_config_record(row_of(config, WIRELESS_COLUMNS), with_psk_value=with_psk_value)
