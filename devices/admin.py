"""The device registry in the portal: read-only, tenant-scoped for non-superusers.

Seeing a device and its history needs `devices.view_device`, as the devices API demands of a
portal session (rps_site.permissions): a run and its steps are part of the device's record.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from devices.models import Device, ProvisioningRun, RunStep
from rps_site.permissions import portal_user_may

VIEW_DEVICE = "devices.view_device"


def user_tenant(request: HttpRequest) -> str:
    membership = getattr(request.user, "tenant_membership", None)
    return membership.tenant_id if membership is not None else ""


def may_view_devices(request: HttpRequest) -> bool:
    return portal_user_may(request.user, [VIEW_DEVICE])


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_view_devices(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_view_devices(request)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_view_devices(request)


class RunStepInline(ReadOnlyInline):
    model = RunStep
    fields = ("position", "name", "outcome", "detail", "recorded_at")
    readonly_fields = fields


class ProvisioningRunInline(ReadOnlyInline):
    model = ProvisioningRun
    fields = ("action", "profile_name", "outcome", "failure_cause", "started_at", "finished_at")
    readonly_fields = fields
    show_change_link = True


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("guid", "hostname", "tenant_id", "control_mode", "status", "profile_name", "last_seen_at")
    list_filter = ("status", "control_mode", "tenant_id")
    search_fields = ("guid", "hostname", "profile_name")
    inlines = [ProvisioningRunInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Device]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(tenant_id=user_tenant(request))


@admin.register(ProvisioningRun)
class ProvisioningRunAdmin(ReadOnlyAdmin):
    list_display = ("device", "action", "profile_name", "outcome", "started_at", "finished_at")
    list_filter = ("outcome", "action")
    search_fields = ("device__guid", "device__hostname", "profile_name", "failure_cause")
    inlines = [RunStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProvisioningRun]:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(device__tenant_id=user_tenant(request))
