"""Secret writes tied to a database transaction (DESIGN.md "Nothing half-written").

A create uses `cas=0` (it cannot overwrite), an update the version read just before, and a
delete destroys every version once the database commit is known; `atomic_with_secrets` undoes
what a transaction wrote to Vault when the transaction does not commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import connection, transaction

from rps_site.models import PendingSecretDestroy
from rps_site.sensitive import Secret
from rps_site.vault.errors import (
    SecretVersionConflict,
    VaultDestroyUnconfirmed,
    VaultUnavailable,
    VaultWriteUnconfirmed,
)
from rps_site.vault.store import SecretStore, StoredSecret, secret_store

logger = logging.getLogger(__name__)


@dataclass
class SecretChanges:
    """Secret writes that belong to one database transaction (DESIGN.md "Nothing half-written").

    What was written is undone if the transaction does not commit: created secrets are
    destroyed, updated ones get their previous values back. A destroy is recorded in the
    transaction (`PendingSecretDestroy`) and sent to Vault once the outermost transaction
    commits: an outer transaction that rolls back (the admin's delete view) keeps both the
    record and its secret, and one Vault does not confirm stays listed for rps_vault_audit.
    """

    store: SecretStore
    committed: bool = False
    _created: list[str] = field(default_factory=list)
    _updated: list[tuple[str, StoredSecret, int]] = field(default_factory=list)
    _destroy_on_commit: list[str] = field(default_factory=list)

    def create(self, path: str, values: Mapping[str, Secret]) -> None:
        """Create the secret of a record inserted (or locked) in this transaction.

        No other writer can own the path meanwhile, so a secret already there belongs to no record
        (a write whose answer was lost, an undo Vault did not confirm): it is destroyed, not
        answered with a conflict that no retry could clear."""
        lock_secret_path(path)
        settle_pending_destroy(self.store, path)
        try:
            self.store.create(path, values)
        except SecretVersionConflict:
            logger.warning("replacing a secret that no record owned at %s", path)
            self.store.destroy(path)
            self.store.create(path, values)
        self._created.append(path)

    def replace(self, path: str, values: Mapping[str, Secret]) -> None:
        """Write the whole key set with check-and-set against the version read just before."""
        lock_secret_path(path)
        settle_pending_destroy(self.store, path)
        previous = self.store.read(path)
        if previous is None:
            self.create(path, values)
            return
        new_version = self.store.update(path, values, expected_version=previous.version)
        self._updated.append((path, previous, new_version))

    def destroy(self, path: str) -> None:
        """Destroy once the outermost transaction commits; refused now (so the transaction rolls
        back) if Vault does not answer or the token may not destroy."""
        self.store.ensure_destroyable(path)
        PendingSecretDestroy.objects.get_or_create(path=path)
        self._destroy_on_commit.append(path)

    def undo(self) -> bool:
        """Put back what this transaction wrote; False if Vault did not confirm all of it."""
        confirmed = True
        for path in reversed(self._created):
            confirmed &= self._confirmed(partial(self.store.destroy, path), path)
        for path, previous, version in reversed(self._updated):
            restore = partial(self.store.update, path, previous.values, expected_version=version)
            confirmed &= self._confirmed(restore, path)
        return confirmed

    def destroy_committed(self) -> None:
        self.committed = True
        unconfirmed = [path for path in self._destroy_on_commit if not destroy_pending(self.store, path)]
        if unconfirmed:
            raise VaultDestroyUnconfirmed("destroy")

    @staticmethod
    def _confirmed(action: Callable[[], Any], path: str) -> bool:
        try:
            action()
        except (VaultUnavailable, SecretVersionConflict):
            logger.error("could not undo a secret write at %s; rps_vault_audit lists it", path)
            return False
        return True


def lock_secret_path(path: str) -> None:
    """Hold `path` until this transaction ends, against rps_vault_audit destroying what it takes
    for a secret without a record while this transaction's record is not yet committed."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [path])


def settle_pending_destroy(store: SecretStore, path: str) -> None:
    """A committed destroy of `path` that Vault has not confirmed runs now, before the path is
    written again; left pending, it could land after the new write and take the new secret."""
    pending = PendingSecretDestroy.objects.select_for_update().filter(path=path)
    if pending.exists():
        store.destroy(path)
        pending.delete()


def destroy_pending(store: SecretStore, path: str) -> bool:
    """Send one recorded destroy to Vault; True once Vault confirmed it (or a writer settled it)."""
    try:
        with transaction.atomic():
            pending = PendingSecretDestroy.objects.select_for_update().filter(path=path)
            if pending.exists():
                store.destroy(path)
                pending.delete()
    except VaultUnavailable:
        logger.error("vault did not confirm destroying the secret at %s; it stays pending", path)
        return False
    return True


@contextmanager
def atomic_with_secrets() -> Iterator[SecretChanges]:
    """A database transaction whose secret writes are undone if it does not commit."""
    changes = SecretChanges(store=secret_store())
    try:
        with transaction.atomic():
            yield changes
            if changes._destroy_on_commit:
                transaction.on_commit(changes.destroy_committed)
    except VaultUnavailable as error:
        if changes.committed:
            raise
        if not changes.undo() and not isinstance(error, VaultWriteUnconfirmed):
            raise VaultWriteUnconfirmed(error.operation) from None
        raise
    except BaseException:
        if not changes.committed:
            changes.undo()
        raise
