"""Reads of IEEE 802.1X configs, always within one tenant (lists in insertion order, as upstream)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiles.api.common import row_of
from profiles.models import Ieee8021xConfig
from rps_site.api.paging import Page

IEEE8021X_COLUMNS = ("name", "authentication_protocol", "pxe_timeout", "wired_interface", "tenant_id", "version")


def ieee8021x_config_get(*, tenant_id: str, name: str) -> Ieee8021xConfig | None:
    return Ieee8021xConfig.objects.filter(tenant_id=tenant_id, name__iexact=name).first()


def ieee8021x_config_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = Ieee8021xConfig.objects.filter(tenant_id=tenant_id).order_by("created_at", "id").values(*IEEE8021X_COLUMNS)
    return list(rows[page.skip : page.stop])


def ieee8021x_config_count(*, tenant_id: str) -> int:
    return Ieee8021xConfig.objects.filter(tenant_id=tenant_id).count()


def ieee8021x_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Only these fields are ever returned: never the password, identities or server name."""
    return {
        "profileName": row["name"],
        "authenticationProtocol": row["authentication_protocol"],
        "pxeTimeout": row["pxe_timeout"],
        "wiredInterface": row["wired_interface"],
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


def ieee8021x_config_record_of(config: Ieee8021xConfig) -> dict[str, Any]:
    return ieee8021x_config_record(row_of(config, IEEE8021X_COLUMNS))
