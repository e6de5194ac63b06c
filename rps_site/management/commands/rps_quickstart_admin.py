"""Create or reset the quick start's portal superuser `admin` (password from the environment)."""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Create or reset the superuser 'admin' with the password in RPS_QUICKSTART_ADMIN_PASSWORD."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password-from-env", action="store_true", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("RPS_QUICKSTART_ADMIN_PASSWORD", "")
        if len(password) < 12:
            raise CommandError("RPS_QUICKSTART_ADMIN_PASSWORD must hold at least 12 characters")
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"is_staff": True})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
