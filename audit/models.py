"""The audit trail: one row per write an admin made through the API or the portal, per profile
export, device purge, tenant move and re-provisioning release (audit.services).

Append-only for the application: a row is inserted once and never changed; only the retention
command removes rows, older than `RPS_AUDIT_RETENTION_DAYS`. The model refuses every other update
and delete, and on PostgreSQL a trigger refuses them too (migration 0001), so neither a code path
nor a stray `queryset.update()` can rewrite history. No row holds a secret value: `fields` names
the columns a write changed and `secret_fields` the secrets it set, never their values.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone

TENANT_LENGTH = 36


class AppendOnly(Exception):
    """Something tried to change or delete an audit row."""


class AuditQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id: str) -> AuditQuerySet:
        return self.filter(tenant_id=tenant_id)

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries are never changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("audit entries are removed only by retention (rps_audit_prune)")


class AuditEntry(models.Model):
    class Via(models.TextChoices):
        API = "api", "API"
        PORTAL = "portal", "portal"
        SYSTEM = "system", "system"  # a management command or other code without a request

    at = models.DateTimeField(default=timezone.now, db_index=True)
    tenant_id = models.CharField("tenant", max_length=TENANT_LENGTH, blank=True, default="", db_index=True)
    actor = models.CharField("who", max_length=200)
    via = models.CharField(max_length=10, choices=Via.choices)
    resource = models.CharField(max_length=40)
    name = models.CharField(max_length=256)
    action = models.CharField(max_length=20)
    fields = models.JSONField("fields changed", default=list)
    secret_fields = models.JSONField("secrets set", default=list)
    detail = models.CharField(max_length=300, blank=True, default="")
    client_address = models.CharField(max_length=64, blank=True, default="")

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit trail"
        indexes = [models.Index(fields=["tenant_id", "-at"], name="audit_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.resource} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("audit entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries are removed only by retention (rps_audit_prune)")
