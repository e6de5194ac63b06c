"""Site-wide records: which tenant a portal user acts for; secret destroys Vault has yet to confirm."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class TenantMembership(models.Model):
    """A portal user belongs to one tenant; users without one act for the default tenant ''."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_membership")
    tenant_id = models.CharField(max_length=36, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant_id or '(default tenant)'}"

    @staticmethod
    def tenant_of(user: Any) -> str:
        """The tenant a portal user acts for."""
        membership = getattr(user, "tenant_membership", None)
        return membership.tenant_id if membership is not None else ""


class VersionTick(models.Model):
    """A draw from the record-version sequence (see rps_site.api.versions)."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return str(self.pk)


class PendingSecretDestroy(models.Model):
    """A secret whose record is gone (or no longer needs it) but that Vault has not yet destroyed.

    Written in the transaction that deletes the record, so it commits or rolls back with it; the
    destroy is sent once the commit is known and this row goes when Vault confirms it. One left
    behind (Vault down, a crash) is listed and retried by `rps_vault_audit`, and is destroyed
    before anything writes the same path again (rps_site.vault)."""

    path = models.TextField(unique=True)  # relative to RPS_VAULT_PREFIX; a path, not a secret
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.path
