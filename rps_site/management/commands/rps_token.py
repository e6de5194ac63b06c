"""Print a bearer token in MPS's format, for scripts, CI and the Postman harness."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rps_site.authentication import issue_token


class Command(BaseCommand):
    help = "Print a bearer token (HS256, RPS_JWT_SECRET/RPS_JWT_ISSUER) for one tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="", help="tenantId claim (default: the empty tenant)")
        parser.add_argument("--subject", default="rps-cli", help="sub claim, recorded as who acted")
        parser.add_argument("--lifetime", type=int, default=None, help="seconds until it expires")

    def handle(self, *args: Any, **options: Any) -> None:
        token = issue_token(
            tenant_id=options["tenant"], subject=options["subject"], lifetime_seconds=options["lifetime"]
        )
        self.stdout.write(token)
