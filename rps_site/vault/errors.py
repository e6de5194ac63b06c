"""The vault layer's failures, each a business error of `rps_site.errors` (an API answers them
503 or 409 through that table; the portal shows `public_message`)."""

from __future__ import annotations

from rps_site.errors import SecretConflict, SecretStoreUnavailable


class VaultUnavailable(SecretStoreUnavailable):
    """Vault could not be reached or refused the request for a reason that is not ours.

    `maybe_applied`: the request may have reached Vault (its answer was lost or late), so a write
    may have landed or may still land; writes resolve that before anyone sees this error.
    `public_message` is what the API and the portal say: exactly what happened, nothing more
    (each subclass's own text; the exception's `str()` names the operation, for the logs).
    """

    public_message = "The secret store is unavailable; nothing was changed."
    MAYBE_APPLIED = "The secret store did not answer in time; the change may not have been made."

    def __init__(self, operation: str, *, maybe_applied: bool = False) -> None:
        super().__init__(f"secret store unavailable during {operation}")
        self.operation = operation
        self.maybe_applied = maybe_applied
        self.public_message = self.MAYBE_APPLIED if maybe_applied else type(self).public_message


class VaultCredentialRefused(VaultUnavailable):
    """Vault refused RPS's token (invalid, expired, revoked, or without the capability)."""

    public_message = "The secret store refused RPS's credential; nothing was changed."


class VaultWriteUnconfirmed(VaultUnavailable):
    """A secret write (or its undo) may have landed, and Vault could not be asked whether it did."""

    public_message = (
        "The secret store did not confirm a secret write: the record was not changed, but its secret may "
        "already hold the new value. Repeat the request when the secret store is back."
    )


class VaultDestroyUnconfirmed(VaultUnavailable):
    """The record's deletion committed; Vault did not confirm destroying its secret (still pending)."""

    public_message = (
        "The record was deleted, but the secret store did not confirm destroying its secret; it stays "
        "listed by rps_vault_audit until it is destroyed."
    )


class SecretVersionConflict(SecretConflict):
    """A check-and-set write found a different version than expected."""

    def __init__(self, path: str) -> None:
        super().__init__(f"secret at {path} changed concurrently or already exists")
        self.path = path
        self.public_message = "A secret of this record changed concurrently; retry."
