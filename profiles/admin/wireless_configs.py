"""Admin portal pages for wireless configs; the PSK passphrase is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import (
    ApiValidatedForm,
    ServiceBackedAdmin,
    number_choice,
    optional_config,
    secret_input,
)
from profiles.api.wireless_configs import chains
from profiles.models import Ieee8021xConfig, WirelessConfig
from profiles.services.wireless_configs import wireless_config_create, wireless_config_delete, wireless_config_update
from rps_site.api.validation import Field


class WirelessConfigAdminForm(ApiValidatedForm):
    name = forms.CharField(label="Config name", max_length=32, help_text="Up to 32 letters and digits.")
    ssid = forms.CharField(label="SSID", max_length=32, help_text="The network's name, up to 32 characters.")
    authentication_method = number_choice(
        "Security", WirelessConfig.AuthenticationMethod, WirelessConfig.AuthenticationMethod.WPA2_PSK
    )
    encryption_method = number_choice(
        "Encryption", WirelessConfig.EncryptionMethod, WirelessConfig.EncryptionMethod.CCMP
    )
    psk_passphrase = secret_input(
        "PSK methods: 8 to 63 characters. Write-only, kept in Vault; on change, leave empty to keep it.",
        label="Passphrase",
    )
    ieee8021x_config = optional_config(
        Ieee8021xConfig, "802.1X config", "802.1X methods only: one of the wireless 802.1X configs."
    )
    link_policy = forms.TypedMultipleChoiceField(
        label="Link policy",
        choices=WirelessConfig.LinkPolicy.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "portal-checklist"}),
        help_text="When AMT may use this network; none ticked leaves AMT's default.",
    )
    secret_fields = {"psk_passphrase": "pskPassphrase"}
    field_of = {
        "profileName": "name",
        "authenticationMethod": "authentication_method",
        "encryptionMethod": "encryption_method",
        "ssid": "ssid",
        "pskPassphrase": "psk_passphrase",
        "ieee8021xProfileName": "ieee8021x_config",
        "linkPolicy": "link_policy",
    }

    class Meta:
        model = WirelessConfig
        fields = ["name", "authentication_method", "encryption_method", "ssid", "link_policy", "ieee8021x_config"]

    def api_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        linked = data.get("ieee8021x_config")
        return {
            "profileName": data.get("name", self.instance.name),
            "authenticationMethod": data.get("authentication_method"),
            "encryptionMethod": data.get("encryption_method"),
            "ssid": data.get("ssid"),
            "linkPolicy": data.get("link_policy") or None,
            "ieee8021xProfileName": linked.name if linked else None,
        }

    def api_chains(self) -> list[Field]:
        fields = chains(self.tenant_id, with_version=False)
        if self.instance.pk and not self.cleaned_data.get("psk_passphrase"):
            fields = [field for field in fields if field.path != "pskPassphrase"]  # keep the stored one
        return fields


@admin.register(WirelessConfig)
class WirelessConfigAdmin(ServiceBackedAdmin):
    form = WirelessConfigAdminForm
    fieldsets = [
        ("Network", {"fields": ["name", "ssid"]}),
        ("Security", {"fields": ["authentication_method", "encryption_method", "psk_passphrase", "ieee8021x_config"]}),
        ("Link policy", {"fields": ["link_policy"]}),
    ]
    list_display = ("name", "ssid", "authentication_method", "encryption_method", "ieee8021x_config", "tenant_id")
    list_filter = ("authentication_method", "encryption_method", "tenant_id")
    search_fields = ("name", "ssid")
    readonly_fields = ("tenant_id", "version")
    create_service = staticmethod(wireless_config_create)
    update_service = staticmethod(wireless_config_update)
    delete_service = staticmethod(wireless_config_delete)

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        if "ieee8021x_config" in form.base_fields:
            form.base_fields["ieee8021x_config"].queryset = Ieee8021xConfig.objects.filter(
                tenant_id=form.tenant_id, wired_interface=False
            )
        return form
