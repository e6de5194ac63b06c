"""Write steps every named record's service shares: find the caller's record by name under a row
lock (or say it is not there), and delete a record that keeps a secret in Vault."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from profiles.models import NamedTenantRecord, VaultBackedRecord
from rps_site.errors import NotFound, RpsError
from rps_site.vault import atomic_with_secrets

Record = TypeVar("Record", bound=NamedTenantRecord)
SecretRecord = TypeVar("SecretRecord", bound=VaultBackedRecord)


def locked_by_name(model: type[Record], *, tenant_id: str, name: str, not_found: Callable[[str], NotFound]) -> Record:
    """The tenant's record of that name (any case), locked until the transaction ends."""
    record = model.objects.for_tenant(tenant_id).named(name).select_for_update().first()
    if record is None:
        raise not_found(name)
    return cast(Record, record)


def record_with_secret_delete(
    model: type[SecretRecord],
    *,
    tenant_id: str,
    name: str,
    not_found: Callable[[str], NotFound],
    refusal: Callable[[SecretRecord], RpsError | None] = lambda record: None,
) -> None:
    """Delete the record, unless `refusal` names a reason not to (another record uses it), and
    destroy its secret once the deletion commits (rps_site.vault.changes)."""
    with atomic_with_secrets() as secrets:
        record = locked_by_name(model, tenant_id=tenant_id, name=name, not_found=not_found)
        reason = refusal(record)
        if reason is not None:
            raise reason
        record.delete()
        secrets.destroy(record.secret_path)
