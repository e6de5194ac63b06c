"""The AMT profile form of the admin portal, with its ordered Wi-Fi and proxy rows.

The form is grouped as the upstream web UI groups a profile (activation, passwords, network,
wireless, 802.1X, TLS, CIRA, proxy, features). Its rows are inline formsets, but they are not
saved as rows: the form turns itself and those rows into the JSON body the API would receive and
runs the API's own validation on it (`validated_create` / `validated_update`), so errors read as
the API's and `service_data` is what the profile services take. Password inputs are write-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.core.exceptions import ValidationError
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpRequest

from profiles.admin.service_backed import ShowsServiceErrors, checkbox, either, optional_config, radio, secret_input
from profiles.api.profile_input import SNAKE, validated_create, validated_update
from profiles.models import ActivationMode, CiraConfig, Ieee8021xConfig, Profile
from rps_site.errors import OperationFailed, ValidationFailed

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
# ... and a flag a stored profile leaves unset shows what the device gets (activation/plan/configuration_plan.py).
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
            (ActivationMode.CCM, "Client control mode (CCM)"),
            (ActivationMode.ACM, "Admin control mode (ACM)"),
        ],
        initial=ActivationMode.CCM,
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
