"""`manage.py rps_audit_prune`: remove audit entries older than RPS_AUDIT_RETENTION_DAYS (run daily,
from cron or a systemd timer)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.services import audit_prune


class Command(BaseCommand):
    help = "Remove audit entries older than RPS_AUDIT_RETENTION_DAYS (0 keeps every entry)."

    def handle(self, *args: Any, **options: Any) -> None:
        removed = audit_prune()
        days = settings.AUDIT_RETENTION_DAYS
        kept = f"older than {days} days" if days else "none: RPS_AUDIT_RETENTION_DAYS is 0"
        self.stdout.write(f"removed {removed} audit entries ({kept})")
