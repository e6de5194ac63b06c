"""Admin portal pages for AMT profiles and their export records.

The form (profile_form) validates as the API does; this admin saves through the same services
(`profile_create` / `profile_update` / `profile_delete`), which write the links and Vault.
Password inputs are never rendered back or named in the admin log. Non-superusers see and choose
only their tenant's rows; a user who may only view sees read-only values as the form shows them.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from profiles.admin.profile_form import (
    FLAGS,
    LINK_FORMSETS,
    PROXY,
    SECRET_FORM_FIELDS,
    UNSET_FLAG_MEANS,
    WIFI,
    LinkFormSet,
    ProfileAdminForm,
    add_only_related_widget,
    request_link_formsets,
)
from profiles.admin.service_backed import (
    RECORD_FIELDSET,
    ServiceSavingAdmin,
    admin_tenant,
    record_tenant,
    without_secret_fields,
)
from profiles.api.profiles_validation import MAX_PROXY_CONFIGS, MAX_WIFI_CONFIGS
from profiles.models import (
    ActivationMode,
    CiraConfig,
    Ieee8021xConfig,
    Profile,
    ProfileExportRecord,
    ProfileProxyConfig,
    ProfileWirelessConfig,
    ProxyConfig,
    WirelessConfig,
)
from profiles.services.profiles import profile_create, profile_delete, profile_update
from rps_site.errors import NotFound, OperationFailed


class OrderedLinkInline(admin.TabularInline):
    """A profile's configs at priorities (1 is tried first), edited with the profile and saved
    by the profile service together with it."""

    formset = LinkFormSet
    extra = 0
    classes = ["portal-ordered"]
    link_kind: ClassVar[str]
    config_field: ClassVar[str]
    config_model: ClassVar[type[WirelessConfig] | type[ProxyConfig]]
    portal_after_fieldset: ClassVar[str]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related(self.config_field).order_by("priority", "id")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        assert issubclass(formset, LinkFormSet)  # built from `formset` above
        formset.link_kind = self.link_kind
        formset.registry = request_link_formsets(request)
        config = formset.form.base_fields.get(self.config_field)
        if config is not None:
            assert isinstance(config, forms.ModelChoiceField)  # a foreign key's form field
            config.queryset = self.config_model.objects.filter(tenant_id=record_tenant(request, obj))
            config.label = self.verbose_name
            add_only_related_widget(config)
        priority = formset.form.base_fields.get("priority")
        if priority is not None:
            priority.help_text = "1 to 255; the lowest is tried first."
        return formset

    # The rows are part of the profile: the profile's permissions decide.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("profiles.view_profile") or request.user.has_perm("profiles.change_profile")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("profiles.change_profile" if obj is not None else "profiles.add_profile")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_add_permission(request, obj)


class WirelessLinkInline(OrderedLinkInline):
    model = ProfileWirelessConfig
    fields = ("priority", "wireless_config")
    verbose_name = "Wi-Fi config"
    verbose_name_plural = "Wi-Fi configs, tried in priority order"
    max_num = MAX_WIFI_CONFIGS
    link_kind = WIFI
    config_field = "wireless_config"
    config_model = WirelessConfig
    portal_after_fieldset = "Wireless"


class ProxyLinkInline(OrderedLinkInline):
    model = ProfileProxyConfig
    fields = ("priority", "proxy_config")
    verbose_name = "Proxy config"
    verbose_name_plural = "Proxy configs, tried in priority order"
    max_num = MAX_PROXY_CONFIGS
    link_kind = PROXY
    config_field = "proxy_config"
    config_model = ProxyConfig
    portal_after_fieldset = "CIRA"


def shown_as_in_form(name: str) -> Any:
    """A read-only display of a stored profile's `name` as the form shows it: a flag's effective
    value, a choice's name, the form's label."""
    field = ProfileAdminForm.base_fields[name]
    choices = cast(list[tuple[Any, Any]], getattr(field, "choices", []))
    names = {str(key): label for key, label in choices}

    @admin.display(description=str(field.label), boolean=isinstance(field, forms.BooleanField))
    def shown(model_admin: Any, obj: Profile) -> Any:
        value = getattr(obj, name)
        if name in FLAGS and value is None:
            value = UNSET_FLAG_MEANS[name]
        if name == "tags":
            return ", ".join(str(tag) for tag in value or []) or "-"
        if isinstance(field, forms.ModelChoiceField):
            return str(value) if value is not None else "None"
        if isinstance(field, forms.ChoiceField):
            value = names.get("" if value is None else str(value), value)
        return "-" if value is None else value

    return shown


def read_only_layout(fields: list[Any]) -> list[Any]:
    """A fieldset's fields as the read-only displays above; passwords only say where they are kept."""
    if fields == PASSWORDS:
        return ["stored_passwords"]
    return [
        tuple(f"shown_{part}" for part in field)
        if isinstance(field, tuple)
        else field
        if field == "name"
        else f"shown_{field}"
        for field in fields
    ]


PASSWORDS = ["generate_random_password", "amt_password", "generate_random_mebx_password", "mebx_password"]
FIELDSETS: list[tuple[str, dict[str, Any]]] = [
    ("Activation", {"fields": ["name", "activation", "tags"]}),
    ("Passwords", {"fields": PASSWORDS}),
    ("Network", {"fields": ["dhcp_enabled", "ip_sync_enabled"]}),
    ("Wireless", {"fields": ["local_wifi_sync_enabled", "uefi_wifi_sync_enabled"]}),
    ("802.1X", {"fields": ["ieee8021x_config"]}),
    ("TLS", {"fields": ["tls_mode", "tls_signing_authority"]}),
    (
        "CIRA",
        {
            "fields": ["cira_config"],
            "description": "A profile connects devices to MPS either over CIRA or with TLS, not both.",
        },
    ),
    ("Features and user consent", {"fields": ["user_consent", ("kvm_enabled", "sol_enabled", "ider_enabled")]}),
]


@admin.register(Profile)
class ProfileAdmin(ServiceSavingAdmin):
    form = ProfileAdminForm
    inlines = [WirelessLinkInline, ProxyLinkInline]
    list_display = ("name", "activation_mode", "connection", "dhcp_enabled", "tag_list", "tenant_id", "version")
    list_filter = ("activation", "tls_mode", "tls_signing_authority", "dhcp_enabled", "generate_random_password")
    search_fields = ("name",)
    readonly_fields = ("tenant_id", "version", "stored_passwords")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        queryset = super().get_queryset(request).select_related("cira_config")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id=admin_tenant(request))

    def get_fieldsets(self, request: HttpRequest, obj: Profile | None = None) -> Any:
        fieldsets = list(FIELDSETS)
        may_edit = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if not may_edit:
            fieldsets = [
                (name, {**options, "fields": read_only_layout(options["fields"])}) for name, options in fieldsets
            ]
        return [*fieldsets, RECORD_FIELDSET] if obj is not None else fieldsets

    def get_form(self, request: HttpRequest, obj: Profile | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ProfileAdminForm)  # built from `form` above
        tenant_id = record_tenant(request, obj)
        form.tenant_id = tenant_id
        request.__dict__[LINK_FORMSETS] = {}
        form.link_formsets = request_link_formsets(request)
        linked_8021x = obj.ieee8021x_config_id if obj is not None else None
        choices = {
            "cira_config": CiraConfig.objects.filter(tenant_id=tenant_id),
            # Wired configs belong here; one stored before this rule stays selectable.
            "ieee8021x_config": Ieee8021xConfig.objects.filter(tenant_id=tenant_id).filter(
                Q(wired_interface=True) | Q(pk=linked_8021x)
            ),
        }
        for field, queryset in choices.items():
            if field in form.base_fields:
                choice = form.base_fields[field]
                assert isinstance(choice, forms.ModelChoiceField)  # a foreign key's form field
                choice.queryset = queryset
        return form

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Each inline right after the group it belongs to (see the change_form template)."""
        groups = [fieldset.name for fieldset in context["adminform"]]
        placed: dict[str, list[Any]] = {}
        trailing = []
        for inline in context["inline_admin_formsets"]:
            after = getattr(inline.opts, "portal_after_fieldset", "")
            if after in groups:
                placed.setdefault(after, []).append(inline)
            else:
                trailing.append(inline)
        context["portal_sections"] = [(fieldset, placed.get(fieldset.name, [])) for fieldset in context["adminform"]]
        context["portal_trailing_inlines"] = trailing
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="Activation", ordering="activation")
    def activation_mode(self, obj: Profile) -> str:
        short = {str(ActivationMode.ACM): "ACM", str(ActivationMode.CCM): "CCM"}
        return short.get(obj.activation, obj.activation)

    @admin.display(description="Connection")
    def connection(self, obj: Profile) -> str:
        if obj.cira_config_id:
            return f"CIRA ({obj.cira_config})"
        if obj.tls_mode:
            return f"TLS: {obj.get_tls_mode_display()}"
        return "-"

    @admin.display(description="Tags")
    def tag_list(self, obj: Profile) -> str:
        return ", ".join(str(tag) for tag in obj.tags or []) or "-"

    # What a read-only user sees instead of inputs (see get_fieldsets).
    shown_activation = shown_as_in_form("activation")
    shown_tags = shown_as_in_form("tags")
    shown_dhcp_enabled = shown_as_in_form("dhcp_enabled")
    shown_ip_sync_enabled = shown_as_in_form("ip_sync_enabled")
    shown_local_wifi_sync_enabled = shown_as_in_form("local_wifi_sync_enabled")
    shown_uefi_wifi_sync_enabled = shown_as_in_form("uefi_wifi_sync_enabled")
    shown_ieee8021x_config = shown_as_in_form("ieee8021x_config")
    shown_tls_mode = shown_as_in_form("tls_mode")
    shown_tls_signing_authority = shown_as_in_form("tls_signing_authority")
    shown_cira_config = shown_as_in_form("cira_config")
    shown_user_consent = shown_as_in_form("user_consent")
    shown_kvm_enabled = shown_as_in_form("kvm_enabled")
    shown_sol_enabled = shown_as_in_form("sol_enabled")
    shown_ider_enabled = shown_as_in_form("ider_enabled")

    @admin.display(description="Passwords")
    def stored_passwords(self, obj: Profile) -> str:
        amt = "generated per device" if obj.generate_random_password else "stored in Vault"
        if obj.activation != ActivationMode.ACM:
            return format_html("AMT: {}", amt)
        mebx = "generated per device" if obj.generate_random_mebx_password else "stored in Vault"
        return format_html("AMT: {} · MEBx: {}", amt, mebx)

    def save_model(self, request: HttpRequest, obj: Profile, form: ProfileAdminForm, change: bool) -> None:
        tenant_id = form.tenant_id
        if change:
            saved = profile_update(tenant_id=tenant_id, data=form.service_data, expected_version=form.instance.version)
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
        except (NotFound, OperationFailed) as error:
            self.message_user(request, error.public_message, level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        for profile in queryset:
            self.delete_model(request, profile)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        """The admin log names changed fields, the Wi-Fi and proxy rows as one entry each (the
        service rewrote them), and never a password field."""
        message = super().construct_change_message(request, form, [], add)
        message = without_secret_fields(message, form, SECRET_FORM_FIELDS)
        links = [str(formset.model._meta.verbose_name_plural) for formset in formsets if formset.has_changed()]
        if links and not add:
            message.append({"changed": {"fields": links}})
        return message


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
