"""Test-wide fixtures: a real OpenBao dev server for the whole session, wired into settings.

Tests that touch secrets ask for `vault` (the configured `SecretStore`); nothing is mocked.
The interop suite (tests/shared_reference.py) is reported in one line when it was skipped, and
required when `RPS_INTEROP_REQUIRED` is set.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rps_site.openbao_dev import DevVault, start_dev_vault
from tests.shared_reference import INTEROP_REQUIRED, SKIP_PREFIX, missing_reference


def pytest_sessionstart(session: pytest.Session) -> None:
    reason = missing_reference()
    if INTEROP_REQUIRED and reason:
        message = reason.replace(SKIP_PREFIX, "interop suite required (RPS_INTEROP_REQUIRED)", 1)
        pytest.exit(message, returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """One line for the whole interop suite, whatever `-r` shows of the skips one by one."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple) and SKIP_PREFIX in str(report.longrepr[2])
    ]
    if skipped:
        reason = str(skipped[0].longrepr[2]).removeprefix("Skipped: ")
        terminalreporter.write_line(f"{reason} [{len(skipped)} tests or modules]", yellow=True)


@pytest.fixture(scope="session")
def dev_vault() -> Iterator[DevVault]:
    vault = start_dev_vault()
    yield vault
    vault.stop()


@pytest.fixture
def vault(dev_vault: DevVault, settings):  # type: ignore[no-untyped-def]
    """The storage layer pointed at the session's OpenBao dev server."""
    from rps_site.vault import secret_store

    settings.VAULT_ADDR, settings.VAULT_TOKEN = dev_vault.addr, dev_vault.root_token
    secret_store.cache_clear()
    yield secret_store()
    secret_store.cache_clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):  # type: ignore[no-untyped-def]  # noqa: F811 - pytest-django's, extended
    """pytest-django's test database, plus: async tests run ORM calls in asgiref's shared worker
    thread, whose connection must be closed before the test database can be dropped."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
