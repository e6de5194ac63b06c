"""Everything the quick start prepares before serving, in one process (each `manage.py` start
costs a second or more): check the Vault credential, migrate, seed MPSCerts, create the portal
admin on first start, print a bearer token."""

from __future__ import annotations

import logging
import os
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from rps_site.checks import refuse_unfit_vault_credential


class Command(BaseCommand):
    help = (
        "migrate, rps_seed_mps_ca, rps_quickstart_admin (when RPS_QUICKSTART_ADMIN_PASSWORD is set), "
        "then print a token from rps_token --subject quickstart."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # A Vault that refuses the credential is reported here, before anything is written, in the one
        # line the refusal becomes (rps_site.startup); the storage layer's own error record would repeat it.
        vault_logger = logging.getLogger("rps_site.vault")
        level = vault_logger.level
        vault_logger.setLevel(logging.CRITICAL)
        try:
            refuse_unfit_vault_credential()
        finally:
            vault_logger.setLevel(level)
        call_command("migrate", interactive=False, verbosity=0)
        # Device TLS certificates are signed with the CA in MPSCerts; MPS writes it in production.
        call_command("rps_seed_mps_ca", stdout=StringIO())
        if os.environ.get("RPS_QUICKSTART_ADMIN_PASSWORD"):
            call_command("rps_quickstart_admin", password_from_env=True)
        call_command("rps_token", subject="quickstart", stdout=self.stdout)
