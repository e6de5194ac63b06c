"""What can go wrong in RPS's business layer, by cause, without any transport in it.

Services, selectors and the vault layer raise these; each edge says them in its own terms: the
REST API maps a class to a status and upstream's `{error, message}` body in one table
(`rps_site.api_errors`), the portal shows `public_message` on the form, and the device channel
can map the same classes to its status texts. No class here knows an HTTP status.

`public_message` is the text any caller may read: it never holds a secret, a stack, SQL, a
settings value or a Vault path (the exception's own `str()` may say more, for the logs).
"""

from __future__ import annotations

from typing import Any


class RpsError(Exception):
    """A refusal the caller can act on; `public_message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.public_message = message


class OperationFailed(RpsError):
    """The request is well-formed but what it asks cannot be done (upstream's generic `Error`)."""


class MalformedInput(RpsError):
    """The request itself cannot be read: not a JSON object, nested too deep, unstorable text."""


class Refused(RpsError):
    """A well-formed request RPS will not carry out as asked (a device moved to its own tenant)."""


class NotFound(RpsError):
    """No such record in the caller's tenant."""


class Duplicate(RpsError):
    """A record with this name (or another unique key) already exists in the tenant."""


class InUse(RpsError):
    """The record cannot be deleted: another record refers to it."""


class MissingReference(RpsError):
    """A record names another that does not exist; `detail` says which reference, in the words
    upstream's database used for it (its clients match on them)."""

    def __init__(self, message: str, *, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class VersionConflict(RpsError):
    """The record changed since the caller read it, or the version given never matched.

    `current` is the record as stored now (a model instance); the edge that answers shows it
    without secrets, with `current_version`."""

    def __init__(self, current: Any, current_version: int) -> None:
        super().__init__("The record was changed by someone else; reload it and try again.")
        self.current = current
        self.current_version = str(current_version)


class ValidationFailed(RpsError):
    """The input broke validation rules: `errors` in express-validator's shape and order
    (rest-api.md §1.9-1.10), `value` already left out where it is a secret."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class ServiceUnavailable(RpsError):
    """A service RPS depends on (MPS, the secret store) could not be reached or refused;
    `public_message` says whether anything may have changed."""


class SecretStoreUnavailable(ServiceUnavailable):
    """The secret store could not be reached or refused."""


class SecretConflict(RpsError):
    """A secret changed concurrently (a check-and-set write found another version)."""
