"""Reads of domains beyond the API's own, always within one tenant."""

from __future__ import annotations

from datetime import datetime, timedelta

from profiles.models import Domain

# A provisioning certificate this close to its end is worth an admin's attention.
CERTIFICATE_WARNING = timedelta(days=30)


def domain_certificates_expiring(*, tenant_id: str, before: datetime) -> list[Domain]:
    """A tenant's domains whose provisioning certificate expires before `before` (or has
    expired), soonest first."""
    return list(
        Domain.objects.for_tenant(tenant_id).filter(expiration_date__lt=before).order_by("expiration_date", "id")
    )


def domain_for_suffixes(*, tenant_id: str, suffixes: list[str]) -> Domain | None:
    """The tenant's domain for the first of `suffixes` (longest first) that names one, matched
    case-insensitively: the domain whose provisioning certificate an ACM activation uses."""
    for suffix in suffixes:
        domain = Domain.objects.filter(tenant_id=tenant_id, domain_suffix__iexact=suffix).first()
        if domain is not None:
            return domain
    return None
