"""Site-wide records: which tenant a portal user acts for."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TenantMembership(models.Model):
    """A portal user belongs to one tenant; users without one act for the default tenant ''."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_membership")
    tenant_id = models.CharField(max_length=36, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant_id or '(default tenant)'}"


class VersionTick(models.Model):
    """A draw from the record-version sequence (see rps_site.api.versions)."""

    id = models.BigAutoField(primary_key=True)

    def __str__(self) -> str:
        return str(self.pk)
