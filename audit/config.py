"""`RPS_AUDIT_RETENTION_DAYS`, read by the settings: days an audit entry is kept (0: forever)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


def audit_retention_days_from(env: Any) -> int:
    days = int(env.int("RPS_AUDIT_RETENTION_DAYS", default=365))
    if days < 0:
        raise ImproperlyConfigured("RPS_AUDIT_RETENTION_DAYS must be >= 0")
    return days
