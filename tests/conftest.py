"""Test-wide fixtures: a real OpenBao dev server for the whole session, wired into settings.

Tests that touch secrets ask for `vault` (the configured `SecretStore`); nothing is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rps_site.openbao_dev import DevVault, start_dev_vault


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
