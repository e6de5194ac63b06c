"""Reading the audit trail, one tenant at a time, newest first."""

from __future__ import annotations

from datetime import datetime

from audit.models import AuditEntry, AuditQuerySet


def audit_list(
    *,
    tenant_id: str,
    resource: str | None = None,
    action: str | None = None,
    name: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditQuerySet:
    entries = AuditEntry.objects.for_tenant(tenant_id)
    if resource:
        entries = entries.filter(resource=resource)
    if action:
        entries = entries.filter(action=action)
    if name:
        entries = entries.filter(name__iexact=name)
    if actor:
        entries = entries.filter(actor=actor)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if until is not None:
        entries = entries.filter(at__lt=until)
    return entries
