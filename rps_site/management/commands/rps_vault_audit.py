"""`manage.py rps_vault_audit [--repair [--destroy-device-secrets]]`: Vault against the database.

Lists, per tenant, secrets without a record, records without their secret and destroys Vault has
not confirmed (rps_site.vault_audit says which are safe to repair). A dry run unless `--repair`;
exits 1 while anything is left, so it can run from monitoring.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rps_site.vault import VaultUnavailable, secret_store
from rps_site.vault_audit import audit, repair


class Command(BaseCommand):
    help = "List (and with --repair, fix what is safe) secrets without a record and records without their secret."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="fix what can be fixed safely (default: list only)")
        parser.add_argument(
            "--destroy-device-secrets",
            action="store_true",
            help="with --repair, also destroy device secrets no device record owns (a device may still use them)",
        )
        parser.add_argument(
            "--min-age",
            type=int,
            default=600,
            metavar="SECONDS",
            help="leave secrets younger than this alone: a create may still be committing (default 600)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["destroy_device_secrets"] and not options["repair"]:
            raise CommandError("--destroy-device-secrets needs --repair")
        store = secret_store()
        min_age = timedelta(seconds=options["min_age"])
        try:
            findings = audit(store, min_age=min_age)
            if options["repair"]:
                repair(store, findings, destroy_device_secrets=options["destroy_device_secrets"], min_age=min_age)
        except VaultUnavailable as error:
            raise CommandError(f"Vault: {error.public_message}") from None
        for section, items in groupby(findings, key=lambda finding: finding.section):
            title = "device secrets without a tenant" if section is None else f'tenant "{section}"'
            self.stdout.write(f"{title}:")
            for finding in items:
                owner = f" ({finding.owner})" if finding.owner else ""
                self.stdout.write(f"  {finding.problem}: {finding.path}{owner} [{finding.advice()}]")
        left = sum(not finding.repaired for finding in findings)
        if left:
            raise CommandError(f"{left} of {len(findings)} finding(s) left", returncode=1)
        self.stdout.write(f"Vault and the database agree ({len(findings)} repaired).")
