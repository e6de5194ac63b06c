"""The device registry in the portal: read-only, tenant-scoped for non-superusers, plus the admin
decisions about the device channel (README "What the device channel trusts"): moving a device
to another tenant, releasing re-provisioning requests, and the enrollment allow-list (paste or
CSV import). Each decision goes through the same service as the API and asks for confirmation.

Seeing a device and its history needs `devices.view_device`, as the devices API demands of a
portal session (rps_site.permissions): a run and its steps are part of the device's record.
Re-provisioning requests and enrolled devices need their own model permissions, as in the API.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from devices.models import Device, EnrolledDevice, ProvisioningRun, ReprovisioningRequest, RunStep
from devices.selectors import device_list
from devices.services.admin_actions import device_move, device_purge, enrollment_add, reprovisioning_release
from portal.device_page import DeviceAction, device_facts, open_request, run_timeline
from rps_site.errors import RpsError
from rps_site.permissions import model_permission, portal_user_may

CONFIRM_TEMPLATE = "admin/devices/confirm_action.html"
GUID_IN_TEXT = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
VIEW_DEVICE = "devices.view_device"


def user_tenant(request: HttpRequest) -> str:
    membership = getattr(request.user, "tenant_membership", None)
    return membership.tenant_id if membership is not None else ""


def may(request: HttpRequest, permission: str) -> bool:
    return portal_user_may(request.user, [permission])


def may_view_devices(request: HttpRequest) -> bool:
    return may(request, VIEW_DEVICE)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Seeing needs `devices.view_device` (a device's record), unless `view_permission` names the
    model's own."""

    view_permission = VIEW_DEVICE

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may(request, self.view_permission)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may(request, self.view_permission)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def confirmation(
    admin_page: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    action: str,
    title: str,
    explanation: str,
    form: forms.Form | None = None,
) -> TemplateResponse:
    """The page that asks before an action runs; it posts the same selection back with `confirm`."""
    context = {
        **admin_page.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "objects": list(queryset),
        "action": action,
        "form": form,
        "opts": admin_page.model._meta,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def runs_visible(request: HttpRequest, runs: QuerySet[ProvisioningRun]) -> QuerySet[ProvisioningRun]:
    """A tenant's admin sees its devices' runs, and of an unbound device only the attempts that
    named the tenant."""
    if request.user.is_superuser:
        return runs
    tenant = user_tenant(request)
    return runs.filter(device__tenant_id=tenant) | runs.filter(device__tenant_id=None, claimed_tenant_id=tenant)


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


class MoveForm(forms.Form):
    tenant_id = forms.CharField(
        label="Target tenant", max_length=36, required=False, strip=True, help_text="Empty: the default tenant."
    )


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("guid", "hostname", "tenant_id", "control_mode", "status", "profile_name", "last_seen_at")
    list_filter = ("status", "control_mode", "credential", "tenant_id")
    search_fields = ("guid", "hostname", "profile_name")
    actions = ["move_to_tenant", "purge"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Device]:
        if request.user.is_superuser:
            return super().get_queryset(request)
        return device_list(tenant_id=user_tenant(request))

    def has_move_permission(self, request: HttpRequest) -> bool:
        return may(request, "devices.change_device")

    def has_purge_permission(self, request: HttpRequest) -> bool:
        return may(request, "devices.delete_device")

    @staticmethod
    def manageable(request: HttpRequest, device: Device) -> bool:
        """A decision about a device is its tenant's: a bound device of the user's tenant (any, for
        a superuser). An unbound device has no tenant to decide yet."""
        return device.tenant_id is not None and (request.user.is_superuser or device.tenant_id == user_tenant(request))

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The device page (portal.device_page): its state, its runs' timeline, its actions."""
        device = self.get_object(request, unquote(object_id))
        if device is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_permission(request, device):
            raise PermissionDenied
        waiting = open_request(device)
        context = {
            **self.admin_site.each_context(request),
            "title": device.hostname or device.guid,
            "opts": self.opts,
            "device": device,
            "facts": device_facts(device),
            "runs": run_timeline(runs_visible(request, ProvisioningRun.objects.filter(device=device))),
            "open_request": waiting,
            "actions_offered": self.actions_offered(request, device, waiting),
        }
        return TemplateResponse(request, "admin/devices/device/page.html", context)

    def actions_offered(
        self, request: HttpRequest, device: Device, waiting: ReprovisioningRequest | None
    ) -> list[DeviceAction]:
        offered = []
        own_changelist = reverse("admin:devices_device_changelist")
        if self.manageable(request, device):
            if self.has_move_permission(request):
                offered.append(DeviceAction("move_to_tenant", "Move to another tenant…", own_changelist, device.pk))
            if self.has_purge_permission(request):
                offered.append(DeviceAction("purge", "Purge…", own_changelist, device.pk, danger=True))
        if (
            waiting is not None
            and may(request, "devices.change_reprovisioningrequest")
            and (request.user.is_superuser or waiting.tenant_id == user_tenant(request))
        ):
            requests = reverse("admin:devices_reprovisioningrequest_changelist")
            offered.insert(0, DeviceAction("release", "Release re-provisioning…", requests, waiting.pk))
        return offered

    @admin.action(description="Purge selected devices: history, stored secret and MPS record", permissions=["purge"])
    def purge(self, request: HttpRequest, queryset: QuerySet[Device]) -> TemplateResponse | None:
        if "confirm" not in request.POST:
            return confirmation(
                self,
                request,
                queryset,
                action="purge",
                title="Purge devices",
                explanation=(
                    "For a device that can never be deactivated (gone, broken, reset by hand): its row and "
                    "history, its stored AMT and MEBx passwords in Vault and its MPS record are deleted. This "
                    "cannot be undone; a device that connects again starts as a new, unbound one."
                ),
            )
        for device in queryset:
            if not self.manageable(request, device):
                self.message_user(request, f"{device.guid}: not bound to your tenant, not purged.", messages.ERROR)
                continue
            try:
                outcome = device_purge(tenant_id=device.tenant_id or "", guid=device.guid)
            except RpsError as error:
                self.message_user(request, f"{device.guid}: {error.public_message}", messages.ERROR)
                continue
            note = "" if outcome.ok or outcome.status == 404 else f" MPS kept its record ({outcome.detail})."
            self.message_user(request, f"{device.guid} purged.{note}", messages.SUCCESS)
        return None

    @admin.action(description="Move selected devices to another tenant", permissions=["move"])
    def move_to_tenant(self, request: HttpRequest, queryset: QuerySet[Device]) -> TemplateResponse | None:
        form = MoveForm(request.POST if "confirm" in request.POST else None)
        if not form.is_valid():
            return confirmation(
                self,
                request,
                queryset,
                action="move_to_tenant",
                title="Move devices to another tenant",
                explanation=(
                    "The devices, their history and their MPS records move to the target tenant; their "
                    "stored secrets stay. Only an admin of the target tenant can move them back."
                ),
                form=form,
            )
        target = form.cleaned_data["tenant_id"]
        for device in queryset:
            if not self.manageable(request, device):
                self.message_user(request, f"{device.guid}: not bound to your tenant, not moved.", messages.ERROR)
                continue
            try:
                device_move(tenant_id=device.tenant_id or "", guid=device.guid, target_tenant_id=target)
            except RpsError as error:
                self.message_user(request, f"{device.guid}: {error.public_message}", messages.ERROR)
            else:
                self.message_user(request, f"{device.guid} moved to tenant {target or '(default)'}.", messages.SUCCESS)
        return None


@admin.register(ProvisioningRun)
class ProvisioningRunAdmin(ReadOnlyAdmin):
    list_display = ("device", "action", "profile_name", "outcome", "started_at", "finished_at")
    list_filter = ("outcome", "action")
    search_fields = ("device__guid", "device__hostname", "profile_name", "failure_cause", "client_address")
    inlines = [RunStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProvisioningRun]:
        return runs_visible(request, super().get_queryset(request))


@admin.register(ReprovisioningRequest)
class ReprovisioningRequestAdmin(ReadOnlyAdmin):
    view_permission = model_permission(ReprovisioningRequest, "view")
    list_display = (
        "device",
        "state",
        "reported_hostname",
        "client_address",
        "attempts",
        "last_requested_at",
        "released_by",
        "released_at",
    )
    list_filter = ("state",)
    search_fields = ("device__guid", "device__hostname", "reported_hostname", "client_address")
    actions = ["release"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReprovisioningRequest]:
        requests = super().get_queryset(request).select_related("device")
        return requests if request.user.is_superuser else requests.filter(tenant_id=user_tenant(request))

    def has_release_permission(self, request: HttpRequest) -> bool:
        return may(request, "devices.change_reprovisioningrequest")

    @admin.action(description="Release: let these devices be activated again", permissions=["release"])
    def release(self, request: HttpRequest, queryset: QuerySet[ReprovisioningRequest]) -> TemplateResponse | None:
        if "confirm" not in request.POST:
            return confirmation(
                self,
                request,
                queryset,
                action="release",
                title="Release re-provisioning requests",
                explanation=(
                    "The next activation of each device may replace its stored password (Vault keeps the old "
                    "one as a prior version). Release only devices you know were reset and are about to be "
                    "activated again: until then, any client claiming the GUID could take it."
                ),
            )
        for item in queryset:
            try:
                reprovisioning_release(
                    tenant_id=item.tenant_id, guid=item.device.guid, released_by=request.user.get_username()
                )
            except RpsError as error:
                self.message_user(request, f"{item.device.guid}: {error.public_message}", messages.ERROR)
            else:
                self.message_user(request, f"{item.device.guid} released.", messages.SUCCESS)
        return None


def guids_from_text(text: str) -> tuple[list[str], list[int]]:
    """GUIDs from pasted text or a CSV export: one per line (extra columns are ignored), a first
    line without one is a header. Returns the GUIDs and the numbers of lines that have none."""
    guids: list[str] = []
    bad_lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        found = GUID_IN_TEXT.findall(line)
        if found:
            guids.append(found[0].lower())
        elif line.strip() and number > 1:
            bad_lines.append(number)
    return guids, bad_lines


class EnrollmentImportForm(forms.Form):
    guids = forms.CharField(
        label="GUIDs", required=False, widget=forms.Textarea(attrs={"rows": 12}), help_text="One per line."
    )
    csv_file = forms.FileField(label="or a CSV file", required=False, help_text="A GUID in each row; up to 1 MB.")
    tenant_id = forms.CharField(label="Tenant", max_length=36, required=False, help_text="Superusers only.")
    note = forms.CharField(max_length=255, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        guids, bad_lines = guids_from_text(cleaned.get("guids") or "")
        problems = [f"line(s) {', '.join(str(number) for number in bad_lines[:10])}"] if bad_lines else []
        upload = cleaned.get("csv_file")
        if upload is not None:
            if upload.size > 1_000_000:
                raise forms.ValidationError("The CSV file is larger than 1 MB.")
            from_file, bad_rows = guids_from_text(upload.read().decode("utf-8-sig", errors="replace"))
            guids += from_file
            if bad_rows:
                problems.append(f"CSV row(s) {', '.join(str(number) for number in bad_rows[:10])}")
        if problems:
            raise forms.ValidationError(f"No GUID on {' and '.join(problems)}: nothing was imported.")
        if not guids:
            raise forms.ValidationError("No GUID found.")
        cleaned["parsed_guids"] = guids
        return cleaned


@admin.register(EnrolledDevice)
class EnrolledDeviceAdmin(admin.ModelAdmin):
    list_display = ("guid", "tenant_id", "note", "enrolled_by", "enrolled_at")
    search_fields = ("guid", "note")
    list_filter = ("tenant_id",)
    change_list_template = "admin/devices/enrolleddevice/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnrolledDevice]:
        enrolled = super().get_queryset(request)
        return enrolled if request.user.is_superuser else enrolled.filter(tenant_id=user_tenant(request))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # through the import page, which takes one GUID as well as thousands

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may(request, "devices.view_enrolleddevice")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may(request, "devices.view_enrolleddevice")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may(request, "devices.delete_enrolleddevice")

    def has_import_permission(self, request: HttpRequest) -> bool:
        return may(request, "devices.add_enrolleddevice")

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="devices_enrolleddevice_import",
            )
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "may_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context=context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            return HttpResponseRedirect(reverse("admin:devices_enrolleddevice_changelist"))
        form = EnrollmentImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            tenant = form.cleaned_data["tenant_id"] if request.user.is_superuser else user_tenant(request)
            added, already = enrollment_add(
                tenant_id=tenant,
                guids=form.cleaned_data["parsed_guids"],
                enrolled_by=request.user.get_username(),
                note=form.cleaned_data["note"],
            )
            self.message_user(
                request,
                f"{added} GUID(s) enrolled, {already} already were ({tenant or 'default tenant'}).",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:devices_enrolleddevice_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import enrolled devices",
            "form": form,
            "opts": self.model._meta,
            "superuser": request.user.is_superuser,
        }
        return TemplateResponse(request, "admin/devices/enrolleddevice/import.html", context)
