#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rps_site.settings")
    # A command makes one connection: a pool would only hold a database failure back for its timeout.
    os.environ.setdefault("RPS_DB_POOL", "false")
    from django.core.management import execute_from_command_line

    from rps_site.startup import exit_on_startup_error

    with exit_on_startup_error():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
