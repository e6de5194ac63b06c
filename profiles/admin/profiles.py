"""Admin portal pages for AMT profiles and their export records.

The form is grouped as the upstream web UI groups a profile (activation, passwords, network,
wireless, 802.1X, TLS, CIRA, proxy, features). Its ordered Wi-Fi and proxy configs are inline
rows, but they are not saved as rows: the form turns itself and those rows into the JSON body the
API would receive, runs the API's own validation on it (`validated_create` / `validated_update`,
so errors read as the API's), and the admin saves through the same services (`profile_create` /
`profile_update` / `profile_delete`), which write the links and Vault. Password inputs are
write-only: never rendered back, never named in the admin log. Non-superusers see and choose only
their tenant's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpRequest
from django.utils.html import format_html

from profiles.admin.service_backed import (
    RECORD_FIELDSET,
    ServiceSavingAdmin,
    ShowsServiceErrors,
    admin_tenant,
    checkbox,
    either,
    optional_config,
    radio,
    record_tenant,
    secret_input,
    without_secret_fields,
)
from profiles.api.profiles_validation import (
    MAX_PROXY_CONFIGS,
    MAX_WIFI_CONFIGS,
    SNAKE,
    validated_create,
    validated_update,
)
from profiles.models import (
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
from rps_site.errors import NotFound, OperationFailed, ValidationFailed

SECRET_FORM_FIELDS = ("amt_password", "mebx_password")
FORM_FIELD_OF = {camel: snake for camel, snake in SNAKE.items()}
FORM_FIELD_OF["profileName"] = "name"
FORM_FIELD_OF["ciraConfigName"] = "cira_config"
FORM_FIELD_OF["ieee8021xProfileName"] = "ieee8021x_config"
WIFI, PROXY = "wifiConfigs", "proxyConfigs"
FLAGS = (
    "dhcp_enabled",
    "ip_sync_enabled",
    "local_wifi_sync_enabled",
    "uefi_wifi_sync_enabled",
    "ider_enabled",
    "kvm_enabled",
    "sol_enabled",
)
# A new profile starts with the API's defaults (profile_create) ...
NEW_PROFILE_FLAGS = {
    "dhcp_enabled": True,
    "ip_sync_enabled": True,
    "local_wifi_sync_enabled": True,
    "uefi_wifi_sync_enabled": False,
    "ider_enabled": False,
    "kvm_enabled": True,
    "sol_enabled": False,
}
# ... and a flag a stored profile leaves unset shows what the device gets (activation/configuration_plan.py).
UNSET_FLAG_MEANS = {**{flag: False for flag in FLAGS}, "ip_sync_enabled": True, "local_wifi_sync_enabled": True}
LINK_FORMSETS = "rps_profile_link_formsets"  # request attribute: this request's Wi-Fi and proxy formsets
PASSWORD_RULE = "8 to 32 characters, with a lower-case and an upper-case letter, a digit and one of !@#$%^&*."


def add_only_related_widget(field: forms.Field) -> None:
    """Keep the "add another" button of a foreign-key select; drop its change/delete/view icons."""
    if isinstance(field.widget, RelatedFieldWidgetWrapper):
        field.widget.can_change_related = False
        field.widget.can_delete_related = False
        field.widget.can_view_related = False


def request_link_formsets(request: HttpRequest) -> dict[str, Any]:
    formsets: dict[str, Any] = request.__dict__.setdefault(LINK_FORMSETS, {})
    return formsets


class ProfileAdminForm(ShowsServiceErrors, forms.ModelForm):
    name = forms.CharField(
        label="Profile name",
        max_length=256,
        help_text="Letters, digits and special characters, no spaces; rpc-go asks for it with <code>-profile</code>.",
    )
    activation = forms.ChoiceField(
        label="Activation mode",
        choices=[
            (Profile.Activation.CCM, "Client control mode (CCM)"),
            (Profile.Activation.ACM, "Admin control mode (ACM)"),
        ],
        initial=Profile.Activation.CCM,
        widget=radio(),
        help_text="CCM needs no certificate, but redirection needs the user's consent. ACM needs a domain "
        "whose provisioning certificate matches the device's DNS suffix.",
    )
    tags = forms.CharField(label="Tags", required=False, help_text="Comma-separated; MPS keeps them with each device.")
    generate_random_password = checkbox(
        "Generate a random AMT password for each device",
        "Each device gets its own password, kept in Vault at <code>devices/&lt;GUID&gt;</code> where MPS reads it.",
    )
    amt_password = secret_input(
        f"Write-only: kept in Vault, never shown. {PASSWORD_RULE} On change, leave empty to keep it.",
        label="AMT password",
    )
    generate_random_mebx_password = checkbox(
        "Generate a random MEBx password for each device", "Admin control mode only."
    )
    mebx_password = secret_input(
        "Admin control mode only. Write-only, same rules as the AMT password; leave empty to keep it.",
        label="MEBx password",
    )
    dhcp_enabled = either(
        "IP address", "DHCP", "Static", help_text="Wi-Fi needs DHCP: AMT supports wireless only with DHCP."
    )
    ip_sync_enabled = checkbox(
        "Synchronize the IP settings with the operating system", "AMT takes the host's address, mask and gateway."
    )
    local_wifi_sync_enabled = checkbox(
        "Sync Wi-Fi profiles from the operating system", "AMT adopts the wireless networks the host connects to."
    )
    uefi_wifi_sync_enabled = checkbox(
        "Share Wi-Fi profiles with UEFI", "The firmware may use AMT's wireless profiles (e.g. for One Click Recovery)."
    )
    ieee8021x_config = optional_config(
        Ieee8021xConfig, "Wired 802.1X config", "For the wired port; each Wi-Fi config names its own 802.1X config."
    )
    tls_mode = forms.TypedChoiceField(
        label="TLS mode",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "No TLS"), *Profile.TlsMode.choices],
        help_text="TLS on AMT's port 16993, for MPS and tools that reach the device directly.",
    )
    tls_signing_authority = forms.ChoiceField(
        label="Device certificate issued by",
        required=False,
        choices=Profile.TlsSigningAuthority.choices,
        initial=Profile.TlsSigningAuthority.SELF_SIGNED,
        help_text="Used when a TLS mode is set.",
    )
    cira_config = optional_config(
        CiraConfig,
        "CIRA config",
        "The device keeps a tunnel open to MPS (Client Initiated Remote Access). Not together with TLS.",
    )
    user_consent = forms.ChoiceField(
        label="User consent",
        required=False,
        choices=[("", "Default: all redirection in CCM, KVM only in ACM"), *Profile.UserConsent.choices],
        help_text="Client control mode requires consent for all redirection.",
    )
    kvm_enabled = checkbox("KVM (keyboard, video, mouse)")
    sol_enabled = checkbox("Serial over LAN (SOL)")
    ider_enabled = checkbox("IDE redirection (IDE-R)")

    class Meta:
        model = Profile
        fields = [
            "name",
            "activation",
            "tags",
            "generate_random_password",
            "generate_random_mebx_password",
            *FLAGS,
            "ieee8021x_config",
            "tls_mode",
            "tls_signing_authority",
            "cira_config",
            "user_consent",
        ]

    tenant_id: str = ""
    link_formsets: Mapping[str, Any] = {}  # "wifiConfigs"/"proxyConfigs" -> the request's inline formset
    service_data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            if self.instance.tags:
                self.initial["tags"] = ", ".join(self.instance.tags)
            for name in FLAGS:
                if getattr(self.instance, name) is None:
                    self.initial[name] = UNSET_FLAG_MEANS[name]
            if not self.instance.tls_signing_authority:
                self.initial["tls_signing_authority"] = Profile.TlsSigningAuthority.SELF_SIGNED
        else:
            for name, value in NEW_PROFILE_FLAGS.items():
                self.initial.setdefault(name, value)

    def links(self, kind: str, name_key: str, config_field: str) -> list[dict[str, Any]] | None:
        """The rows of an inline formset as the API's link list; None if it cannot be read."""
        formset = self.link_formsets.get(kind)
        if formset is None or not formset.is_valid():
            return None
        entries = []
        for row in formset.forms:
            data = getattr(row, "cleaned_data", None) or {}
            config = data.get(config_field)
            if config is None or data.get(DELETION_FIELD_NAME):
                continue
            entries.append({name_key: config.name, "priority": data.get("priority")})
        return entries

    def api_body(self) -> dict[str, Any]:
        """The form (and its Wi-Fi and proxy rows) as the JSON body the API would receive."""
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
            if snake in FLAGS:
                body[camel] = bool(data.get(snake))
        if data.get("amt_password"):
            body["amtPassword"] = data["amt_password"]
        if data.get("mebx_password"):
            body["mebxPassword"] = data["mebx_password"]
        if self.instance.pk:
            body["version"] = str(self.instance.version)
        # Rows that failed their own checks are left out: the formset's errors keep the save from happening.
        wifi = self.links(WIFI, "profileName", "wireless_config")
        if wifi is not None and (wifi or body["dhcpEnabled"]):
            body[WIFI] = wifi
        proxy = self.links(PROXY, "name", "proxy_config")
        if proxy is not None:
            body[PROXY] = proxy
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
                self.show_api_error(error["path"], error["msg"])
        except OperationFailed as error:
            self.add_error(None, error.public_message)
        return cleaned

    def show_api_error(self, path: str, message: str) -> None:
        formset = self.link_formsets.get(path)
        if formset is not None:
            # Shown above the rows it is about; the formset is then invalid, so nothing is saved.
            formset.non_form_errors().append(ValidationError(message))
            return
        field = FORM_FIELD_OF.get(path)
        self.add_error(field if field in self.fields else None, message)


class LinkFormSet(forms.BaseInlineFormSet):
    link_kind: ClassVar[str] = ""
    registry: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.registry[self.link_kind] = self


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
        short = {str(Profile.Activation.ACM): "ACM", str(Profile.Activation.CCM): "CCM"}
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
        if obj.activation != Profile.Activation.ACM:
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
