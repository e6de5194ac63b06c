"""Writing the audit trail: `audited` wraps each service that changes what admins define or
decide, so a write is recorded whichever edge made it (API view, portal form or action), with the
caller the request carries (audit.context). Secrets are named, never shown: a value wrapped as
`Secret` in the service's input (the API and the portal wrap every field their declarations mark
secret) is listed in `secret_fields` by its field name only.

Only a write that succeeded is recorded; refusals are in the `api_write` log line.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from audit.context import current_caller
from audit.models import AuditEntry
from rps_site.sensitive import Secret

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Columns every write changes or that say nothing about what the admin changed.
BOOKKEEPING = frozenset({"id", "version", "created_at", "tenant_id"})
DETAIL_LIMIT = 300


def audit_record(
    *,
    tenant_id: str,
    resource: str,
    name: str,
    action: str,
    fields: list[str] | None = None,
    secret_fields: list[str] | None = None,
    detail: str = "",
) -> AuditEntry:
    """Append one entry, the caller taken from the request being served (or `system`)."""
    caller = current_caller()
    return AuditEntry.objects.create(
        tenant_id=tenant_id,
        actor=caller.who[:200],
        via=caller.via,
        client_address=caller.client_address,
        resource=resource,
        name=name[:256],
        action=action,
        fields=sorted(fields or []),
        secret_fields=sorted(secret_fields or []),
        detail=detail[:DETAIL_LIMIT],
    )


def _input_items(data: Any) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {field.name: getattr(data, field.name) for field in dataclasses.fields(data)}
    return {}


def secrets_in(data: Any) -> list[str]:
    """The names of the secrets a service input sets (their values are never read)."""
    return [key for key, value in _input_items(data).items() if isinstance(value, Secret)]


def name_in(data: Any) -> str:
    items = _input_items(data)
    return str(items.get("name") or items.get("profileName") or items.get("configName") or "")


def _columns(model: type[Model], **lookup: Any) -> dict[str, Any]:
    row = model._default_manager.filter(**lookup).values().first()
    return {key: value for key, value in (row or {}).items() if key not in BOOKKEEPING}


def _saved_columns(record: Model) -> dict[str, Any]:
    """The columns of a record the service just saved, as `_columns` would read them back (no
    query: reading it again was a sixth of a profile create's CPU)."""
    fields = type(record)._meta.concrete_fields
    return {field.attname: getattr(record, field.attname) for field in fields if field.attname not in BOOKKEEPING}


def changed_columns(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [key for key, value in after.items() if key not in before or before[key] != value]


def audited_record_write(resource: str, action: str, model: type[Model]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """For the create, update and delete services of a named tenant record: keyword arguments
    `tenant_id` and `data` (create, update) or `name` (delete)."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
            tenant_id = str(kwargs["tenant_id"])
            data = kwargs.get("data")
            name = str(kwargs["name"]) if action == "delete" else name_in(data)
            before = _columns(model, tenant_id=tenant_id, name__iexact=name) if action == "update" else {}
            result = service(*args, **kwargs)
            fields: list[str] = []
            if isinstance(result, Model):
                name = str(getattr(result, "name", name))
                after = _saved_columns(result)
                if action == "create":  # what the new record was given
                    after = {key: value for key, value in after.items() if key != "name" and value not in (None, "")}
                fields = changed_columns(before, after)
            audit_record(
                tenant_id=tenant_id,
                resource=resource,
                name=name,
                action=action,
                fields=fields,
                secret_fields=secrets_in(data),
            )
            return result

        return recorded

    return decorate


def audited_action(
    resource: str,
    action: str,
    *,
    name: Callable[[Mapping[str, Any]], str] = lambda arguments: str(arguments["name"]),
    detail: Callable[[Mapping[str, Any]], str] = lambda arguments: "",
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """For a service acting on one thing of a tenant (an export, a purge, a move, a release ...):
    `name` and `detail` say which and what else from its keyword arguments."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
            result = service(*args, **kwargs)
            audit_record(
                tenant_id=str(kwargs["tenant_id"]),
                resource=resource,
                name=name(kwargs),
                action=action,
                detail=detail(kwargs),
            )
            return result

        return recorded

    return decorate


def by_guid(arguments: Mapping[str, Any]) -> str:
    return str(arguments["guid"]).lower()


def enrolled_guids(arguments: Mapping[str, Any]) -> str:
    guids = arguments["guids"]
    listed = list(guids) if isinstance(guids, list | tuple) else []
    return f"{len(listed)} GUIDs: {', '.join(listed)}"


def audit_prune(*, now: Any = None) -> int:
    """Remove the entries older than `RPS_AUDIT_RETENTION_DAYS` (0: keep all); returns how many.

    The only delete there is: on PostgreSQL the append-only trigger lets it through because this
    transaction says so (`rps.audit_retention`)."""
    days = settings.AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    table = AuditEntry._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('rps.audit_retention', 'on', true)")
        cursor.execute(f"DELETE FROM {table} WHERE at < %s", [cutoff])  # noqa: S608 - the model's own table
        removed = cursor.rowcount
    logger.info("audit retention: removed %d entries older than %d days", removed, days)
    return removed
