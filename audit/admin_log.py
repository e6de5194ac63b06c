"""Portal writes that no service of ours makes (users, groups, tenant memberships, login lockouts):
each becomes an audit entry from the entry Django's admin writes to its own log, with the fields
its change message names (a password change is named, never shown). Writes to the apps whose
services record themselves (audit.services) are left to those."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

from audit.services import audit_record

SERVICE_AUDITED_APPS = frozenset({"profiles", "devices", "audit"})
ACTIONS = {ADDITION: "create", CHANGE: "update", DELETION: "delete"}


def _changed_fields(change_message: str) -> list[str]:
    try:
        parts = json.loads(change_message or "[]")
    except ValueError:
        return []
    fields: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        for details in part.values() if isinstance(part, dict) else []:
            if isinstance(details, dict):
                fields += [str(name) for name in details.get("fields", [])]
    return fields


def record_admin_log_entry(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    content_type = instance.content_type
    if not created or content_type is None or content_type.app_label in SERVICE_AUDITED_APPS:
        return
    action = ACTIONS.get(instance.action_flag)
    if action is None:
        return
    audit_record(
        tenant_id=_tenant_of(instance),
        resource=f"{content_type.app_label}.{content_type.model}",
        name=instance.object_repr,
        action=action,
        fields=_changed_fields(instance.change_message),
    )


def _tenant_of(instance: LogEntry) -> str:
    """The tenant the portal user acts for (their membership; none is the default tenant)."""
    membership = getattr(instance.user, "tenant_membership", None)
    return str(membership.tenant_id) if membership is not None else ""
