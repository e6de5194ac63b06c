"""The audit trail in the portal: a filterable list, read-only for everyone (no add, change or
delete, superusers included); a non-superuser sees their tenant's entries only. Seeing it needs
`audit.view_auditentry`, as the API asks of a portal session."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.models import AuditEntry
from devices.admin import ReadOnlyAdmin
from rps_site.models import TenantMembership


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    view_permission = "audit.view_auditentry"
    list_display = ("at", "tenant_id", "actor", "via", "action", "resource", "name", "changed", "detail")
    list_filter = ("resource", "action", "via", "at")
    search_fields = ("name", "actor")
    date_hierarchy = "at"
    list_select_related = False
    show_full_result_count = False  # a large trail: no second count(*) per page

    @admin.display(description="fields changed")
    def changed(self, entry: AuditEntry) -> str:
        secrets = [f"{name} (secret)" for name in entry.secret_fields]
        return ", ".join([*entry.fields, *secrets])

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        entries = super().get_queryset(request)
        if request.user.is_superuser:
            return entries
        return entries.filter(tenant_id=TenantMembership.tenant_of(request.user))
