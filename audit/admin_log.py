"""Portal writes that no service of ours makes (users, groups, tenant memberships, login lockouts):
each becomes an audit entry from the entry Django's admin writes to its own log, with the fields
its change message names (a password change is named, never shown). Writes to the apps whose
services record themselves (audit.services) are left to those."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy

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
        tenant_id=_tenant_of(instance.user),
        resource=f"{content_type.app_label}.{content_type.model}",
        name=instance.object_repr,
        action=action,
        fields=_changed_fields(instance.change_message),
    )


@admin.action(permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s"))
def audited_delete_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> HttpResponse | None:
    """Django's "delete selected" with an audit entry for each record it deletes. Django logs a
    deletion of several records with `bulk_create`, which sends no `post_save`, so
    `record_admin_log_entry` hears only of a single one; the deletion and its entries commit
    together."""
    content_type = modeladmin.model._meta
    audited_here = bool(request.POST.get("post")) and content_type.app_label not in SERVICE_AUDITED_APPS
    with transaction.atomic():
        names = [str(record)[:200] for record in queryset] if audited_here else []  # as LogEntry.object_repr
        response: HttpResponse | None = delete_selected(modeladmin, request, queryset)
        # None after a confirmed POST: every selected record was deleted (a protected one or a
        # missing permission gets a page or PermissionDenied instead).
        if len(names) > 1 and response is None:
            for name in names:
                audit_record(
                    tenant_id=_tenant_of(request.user),
                    resource=f"{content_type.app_label}.{content_type.model_name}",
                    name=name,
                    action="delete",
                )
    return response


def _tenant_of(user: Any) -> str:
    """The tenant the portal user acts for (their membership; none is the default tenant)."""
    membership = getattr(user, "tenant_membership", None)
    return str(membership.tenant_id) if membership is not None else ""
