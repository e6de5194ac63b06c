"""Reads of CIRA configs, always within one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models.functions import Lower

from profiles.api.common import row_of
from profiles.models import CiraConfig
from rps_site.api.paging import Page

CIRA_COLUMNS = (
    "name",
    "mps_server_address",
    "mps_port",
    "username",
    "common_name",
    "server_address_format",
    "auth_method",
    "mps_root_certificate",
    "proxy_details",
    "tenant_id",
    "version",
)


def cira_config_get(*, tenant_id: str, name: str) -> CiraConfig | None:
    return CiraConfig.objects.filter(tenant_id=tenant_id, name__iexact=name).first()


def cira_config_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = CiraConfig.objects.filter(tenant_id=tenant_id).order_by(Lower("name"), "id").values(*CIRA_COLUMNS)
    return list(rows[page.skip : page.stop])


def cira_config_count(*, tenant_id: str) -> int:
    return CiraConfig.objects.filter(tenant_id=tenant_id).count()


def cira_config_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape in upstream's key order; the MPS password is never part of it."""
    return {
        "configName": row["name"],
        "mpsServerAddress": row["mps_server_address"],
        "mpsPort": row["mps_port"],
        "username": row["username"],
        "commonName": row["common_name"],
        "serverAddressFormat": row["server_address_format"],
        "authMethod": row["auth_method"],
        "mpsRootCertificate": row["mps_root_certificate"],
        "proxyDetails": row["proxy_details"],
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


def cira_config_record_of(config: CiraConfig) -> dict[str, Any]:
    return cira_config_record(row_of(config, CIRA_COLUMNS))
