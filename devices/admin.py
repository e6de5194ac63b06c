"""The device registry in the portal: read-only, tenant-scoped for non-superusers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from devices.models import Device, ProvisioningRun, RunStep


def user_tenant(request: HttpRequest) -> str:
    membership = getattr(request.user, "tenant_membership", None)
    return membership.tenant_id if membership is not None else ""


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RunStepInline(admin.TabularInline):
    model = RunStep
    fields = ("position", "name", "outcome", "detail", "recorded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ProvisioningRunInline(admin.TabularInline):
    model = ProvisioningRun
    fields = ("action", "profile_name", "outcome", "failure_cause", "started_at", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("guid", "hostname", "tenant_id", "control_mode", "status", "profile_name", "last_seen_at")
    list_filter = ("status", "control_mode", "tenant_id")
    search_fields = ("guid", "hostname", "profile_name")
    inlines = [ProvisioningRunInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Device]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(tenant_id=user_tenant(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


@admin.register(ProvisioningRun)
class ProvisioningRunAdmin(ReadOnlyAdmin):
    list_display = ("device", "action", "profile_name", "outcome", "started_at", "finished_at")
    list_filter = ("outcome", "action")
    search_fields = ("device__guid", "device__hostname", "profile_name", "failure_cause")
    inlines = [RunStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProvisioningRun]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(device__tenant_id=user_tenant(request))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)
