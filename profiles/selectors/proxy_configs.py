"""Reads of proxy configs, always within one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models.functions import Lower

from profiles.api.common import row_of
from profiles.models import ProxyConfig
from rps_site.api.paging import Page

PROXY_COLUMNS = ("name", "address", "info_format", "port", "network_dns_suffix", "tenant_id")


def proxy_config_get(*, tenant_id: str, name: str) -> ProxyConfig | None:
    return ProxyConfig.objects.filter(tenant_id=tenant_id, name__iexact=name).first()


def proxy_config_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = ProxyConfig.objects.filter(tenant_id=tenant_id).order_by(Lower("name"), "id").values(*PROXY_COLUMNS)
    return list(rows[page.skip : page.stop])


def proxy_config_count(*, tenant_id: str) -> int:
    return ProxyConfig.objects.filter(tenant_id=tenant_id).count()


def proxy_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """Upstream's shape: proxies have no `version`."""
    return {
        "name": row["name"],
        "address": row["address"],
        "infoFormat": row["info_format"],
        "port": row["port"],
        "networkDnsSuffix": row["network_dns_suffix"],
        "tenantId": row["tenant_id"],
    }


def proxy_config_record_of(config: ProxyConfig) -> dict[str, Any]:
    return proxy_config_record(row_of(config, PROXY_COLUMNS))
