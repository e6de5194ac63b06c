"""Reads of domains, always within one tenant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db.models.functions import Lower

from profiles.api.common import row_of
from profiles.models import Domain
from profiles.pfx import iso_milliseconds
from rps_site.api.paging import Page

# A provisioning certificate this close to its end is worth an admin's attention.
CERTIFICATE_WARNING = timedelta(days=30)

DOMAIN_COLUMNS = (
    "name",
    "domain_suffix",
    "provisioning_cert_storage_format",
    "expiration_date",
    "tenant_id",
    "version",
)


def domain_get(*, tenant_id: str, name: str) -> Domain | None:
    return Domain.objects.filter(tenant_id=tenant_id, name__iexact=name).first()


def domain_list(*, tenant_id: str, page: Page) -> list[dict[str, Any]]:
    rows = Domain.objects.filter(tenant_id=tenant_id).order_by(Lower("name"), "id").values(*DOMAIN_COLUMNS)
    return list(rows[page.skip : page.stop])


def domain_count(*, tenant_id: str) -> int:
    return Domain.objects.filter(tenant_id=tenant_id).count()


def domain_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape, in upstream's key order; never the certificate or its password."""
    expiration = row["expiration_date"]
    return {
        "profileName": row["name"],
        "domainSuffix": row["domain_suffix"],
        "provisioningCertStorageFormat": row["provisioning_cert_storage_format"],
        "expirationDate": iso_milliseconds(expiration) if expiration is not None else None,
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


def domain_record_of(domain: Domain) -> dict[str, Any]:
    return domain_record(row_of(domain, DOMAIN_COLUMNS))


def domain_certificates_expiring(*, tenant_id: str, before: datetime) -> list[Domain]:
    """A tenant's domains whose provisioning certificate expires before `before` (or has
    expired), soonest first."""
    return list(
        Domain.objects.filter(tenant_id=tenant_id, expiration_date__lt=before).order_by("expiration_date", "id")
    )
