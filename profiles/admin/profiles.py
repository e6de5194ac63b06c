"""Admin portal pages for AMT profiles and their export records.

The add/change form runs the API's own validation chains and saves through the same services
(`profile_create` / `profile_update` / `profile_delete`), so Vault is written exactly as through
the API. Password inputs are write-only: never rendered back, never named in the admin log.
Non-superusers see and choose only their tenant's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from profiles.admin.service_backed import ServiceSavingAdmin, ShowsServiceErrors
from profiles.api.profiles_validation import SNAKE, validated_create, validated_update
from profiles.models import CiraConfig, Ieee8021xConfig, Profile, ProfileExportRecord
from profiles.services.profiles import profile_create, profile_delete, profile_update
from rps_site.api_errors import ApiError, ValidationFailed

SECRET_FORM_FIELDS = ("amt_password", "mebx_password")
FORM_FIELD_OF = {camel: snake for camel, snake in SNAKE.items()}
FORM_FIELD_OF["profileName"] = "name"
FORM_FIELD_OF["ciraConfigName"] = "cira_config"
FORM_FIELD_OF["ieee8021xProfileName"] = "ieee8021x_config"
NULL_BOOLEAN = forms.NullBooleanSelect


def admin_tenant(request: HttpRequest) -> str:
    membership = getattr(request.user, "tenant_membership", None)
    return membership.tenant_id if membership is not None else ""


class ProfileAdminForm(ShowsServiceErrors, forms.ModelForm):
    activation = forms.ChoiceField(choices=Profile.Activation.choices)
    amt_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only. Leave empty to keep the stored password (or when it is generated per device).",
    )
    mebx_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only; used by ACM profiles only. Leave empty to keep the stored password.",
    )
    tags = forms.CharField(required=False, help_text="Comma-separated.")
    tls_mode = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[
            ("", "No TLS"),
            (1, "1: Server Authentication Only"),
            (2, "2: Server and Non-TLS Authentication"),
            (3, "3: Mutual TLS only"),
            (4, "4: Mutual and Non-TLS authentication"),
        ],
    )
    tls_signing_authority = forms.ChoiceField(
        required=False, choices=[("", "---------"), *Profile.TlsSigningAuthority.choices]
    )
    user_consent = forms.ChoiceField(required=False, choices=[("", "Default"), *Profile.UserConsent.choices])

    class Meta:
        model = Profile
        fields = [
            "name",
            "activation",
            "generate_random_password",
            "amt_password",
            "generate_random_mebx_password",
            "mebx_password",
            "cira_config",
            "ieee8021x_config",
            "tags",
            "dhcp_enabled",
            "ip_sync_enabled",
            "local_wifi_sync_enabled",
            "uefi_wifi_sync_enabled",
            "tls_mode",
            "tls_signing_authority",
            "user_consent",
            "ider_enabled",
            "kvm_enabled",
            "sol_enabled",
        ]

    tenant_id: str = ""
    service_data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.tags:
            self.initial["tags"] = ", ".join(self.instance.tags)

    def api_body(self) -> dict[str, Any]:
        """The form as the JSON body the API would receive."""
        data = self.cleaned_data
        tags = [tag.strip() for tag in (data.get("tags") or "").split(",") if tag.strip()]
        body: dict[str, Any] = {
            "profileName": data.get("name"),
            "activation": data.get("activation"),
            "generateRandomPassword": bool(data.get("generate_random_password")),
            "generateRandomMEBxPassword": bool(data.get("generate_random_mebx_password")),
            "ciraConfigName": data["cira_config"].name if data.get("cira_config") else None,
            "ieee8021xProfileName": data["ieee8021x_config"].name if data.get("ieee8021x_config") else None,
            "tags": tags or None,
            "tlsMode": data.get("tls_mode"),
            "tlsSigningAuthority": data.get("tls_signing_authority") or None,
            "userConsent": data.get("user_consent") or None,
        }
        for camel, snake in SNAKE.items():
            if snake.endswith("_enabled"):
                body[camel] = data.get(snake)
        if data.get("amt_password"):
            body["amtPassword"] = data["amt_password"]
        if data.get("mebx_password"):
            body["mebxPassword"] = data["mebx_password"]
        if self.instance.pk:
            body["version"] = str(self.instance.version)
            # Links are kept as they are (the API manages them); Wi-Fi needs DHCP, so it goes with it.
            if data.get("dhcp_enabled"):
                body["wifiConfigs"] = [
                    {"profileName": link.wireless_config.name, "priority": link.priority}
                    for link in self.instance.wireless_links.select_related("wireless_config")
                ]
            body["proxyConfigs"] = [
                {"name": link.proxy_config.name, "priority": link.priority}
                for link in self.instance.proxy_links.select_related("proxy_config")
            ]
        return body

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # ModelForm.clean() returns cleaned_data
        if self.errors:
            return cleaned
        body = self.api_body()
        try:
            if self.instance.pk:
                self.service_data = validated_update(body, tenant_id=self.tenant_id)
            else:
                self.service_data = validated_create(body, tenant_id=self.tenant_id)
        except ValidationFailed as failed:
            for error in failed.errors:
                field = FORM_FIELD_OF.get(error["path"])
                self.add_error(field if field in self.fields else None, error["msg"])
        except ApiError as error:
            self.add_error(None, error.message)
        return cleaned


@admin.register(Profile)
class ProfileAdmin(ServiceSavingAdmin):
    form = ProfileAdminForm
    list_display = ("name", "activation", "tenant_id", "tls_mode", "cira_config", "dhcp_enabled", "version")
    list_filter = ("activation", "tls_mode", "tls_signing_authority", "dhcp_enabled", "generate_random_password")
    search_fields = ("name",)
    readonly_fields = ("tenant_id", "version", "wifi_links", "proxy_links")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        queryset = super().get_queryset(request).select_related("cira_config")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id=admin_tenant(request))

    def _tenant_of(self, request: HttpRequest, obj: Profile | None) -> str:
        return obj.tenant_id if obj is not None and obj.pk else admin_tenant(request)

    def get_form(self, request: HttpRequest, obj: Profile | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ProfileAdminForm)  # built from `form` above
        tenant_id = self._tenant_of(request, obj)
        form.tenant_id = tenant_id
        for field, model in (("cira_config", CiraConfig), ("ieee8021x_config", Ieee8021xConfig)):
            if field in form.base_fields:
                choice = form.base_fields[field]
                assert isinstance(choice, forms.ModelChoiceField)  # a foreign key's form field
                choice.queryset = model.objects.filter(tenant_id=tenant_id)
        return form

    @admin.display(description="Wi-Fi configs (priority)")
    def wifi_links(self, obj: Profile) -> str:
        links = obj.wireless_links.select_related("wireless_config").order_by("priority")
        return ", ".join(f"{link.priority}: {link.wireless_config.name}" for link in links) or "-"

    @admin.display(description="Proxy configs (priority)")
    def proxy_links(self, obj: Profile) -> str:
        links = obj.proxy_links.select_related("proxy_config")
        return ", ".join(f"{link.priority}: {link.proxy_config.name}" for link in links) or "-"

    def save_model(self, request: HttpRequest, obj: Profile, form: ProfileAdminForm, change: bool) -> None:
        tenant_id = form.tenant_id
        if change:
            saved = profile_update(tenant_id=tenant_id, data=form.service_data, version=str(form.instance.version))
        else:
            saved = profile_create(tenant_id=tenant_id, data=form.service_data)
        for field in Profile._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Links are written by the service; there is nothing else to save."""

    def delete_model(self, request: HttpRequest, obj: Profile) -> None:
        try:
            profile_delete(tenant_id=obj.tenant_id, name=obj.name)
        except ApiError as error:
            self.message_user(request, error.message, level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        for profile in queryset:
            self.delete_model(request, profile)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """The admin log names changed fields; password fields are left out altogether."""
        message = super().construct_change_message(request, form, formsets, add)
        hidden = {str(form.fields[name].label or name) for name in SECRET_FORM_FIELDS if name in form.fields}
        hidden |= {name.replace("_", " ").capitalize() for name in SECRET_FORM_FIELDS}
        return [_without_fields(entry, hidden) for entry in message]


def _without_fields(entry: Mapping[str, Any], hidden: set[str]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for action, details in entry.items():
        if isinstance(details, dict) and "fields" in details:
            details = {**details, "fields": [field for field in details["fields"] if field not in hidden]}
        cleaned[action] = details
    return cleaned


@admin.register(ProfileExportRecord)
class ProfileExportRecordAdmin(admin.ModelAdmin):
    """Read-only audit trail of exports."""

    list_display = ("profile_name", "tenant_id", "exported_by", "exported_at")
    list_filter = ("tenant_id",)
    search_fields = ("profile_name", "exported_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProfileExportRecord]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id=admin_tenant(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
