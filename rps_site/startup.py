"""Start-up failures a person can act on: one line naming the cause, a non-zero exit, no traceback.

`manage.py` commands, the ASGI application (daphne) and the quick start all start inside
`exit_on_startup_error`. What it turns into one line: a bad setting (`ImproperlyConfigured`,
which the settings and the Vault start-up checks raise), a database that cannot be reached,
and a secret store that cannot be used. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import OperationalError

PROGRAM = "rps-django"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


def _vault_unavailable() -> tuple[type[BaseException], ...]:
    # Imported late: rps_site.vault needs configured settings, and the settings themselves may be
    # what failed.
    from rps_site.vault import VaultUnavailable

    return (VaultUnavailable,)


def _database_name() -> str:
    from django.conf import settings

    database = settings.DATABASES["default"]
    if "sqlite" in database["ENGINE"]:
        return f"the SQLite database {database['NAME']}"
    host, port = database.get("HOST") or "localhost", database.get("PORT") or 5432
    return f"the database {database.get('NAME', '')} at {host}:{port}"


def describe(error: BaseException) -> str:
    """The cause of a start-up failure in one line, without a secret (none of these texts hold one)."""
    if isinstance(error, ImproperlyConfigured):
        return _first_line(str(error))
    if isinstance(error, OperationalError):
        return f"cannot use {_database_name()}: {_first_line(str(error))}"
    if isinstance(error, _vault_unavailable()):
        from django.conf import settings

        # VaultUnavailable drops the library error (`from None`) to keep it out of API answers; its
        # class name (ConnectionError, VaultDown for sealed, Forbidden) names the cause here.
        cause = type(error.__context__).__name__ if error.__context__ is not None else "unknown cause"
        return f"{_first_line(str(error))} (Vault at {settings.VAULT_ADDR}: {cause})"
    return _first_line(str(error))


def is_startup_error(error: BaseException) -> bool:
    if isinstance(error, ImproperlyConfigured | OperationalError):
        return True
    try:
        return isinstance(error, _vault_unavailable())
    except ImproperlyConfigured:
        return False


@contextmanager
def exit_on_startup_error() -> Iterator[None]:
    """Print a start-up failure as `rps-django: <cause>` on stderr and exit with status 1."""
    try:
        yield
    except Exception as error:
        if not is_startup_error(error):
            raise
        print(f"{PROGRAM}: {describe(error)}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def check_database() -> None:
    """Connect once, without the pool and with a short timeout, so a server whose database cannot
    be reached says so when it starts rather than with its first request."""
    from django.db import connections

    connection = connections["default"]
    if connection.vendor != "postgresql":
        connection.ensure_connection()
        connection.close()
        return
    import psycopg

    parameters = connection.get_connection_params()  # the pool's options are not among them
    parameters.setdefault("connect_timeout", 5)
    try:
        psycopg.connect(**parameters).close()
    except psycopg.Error as error:
        raise OperationalError(_first_line(str(error))) from None
