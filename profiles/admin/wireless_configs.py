"""Admin portal pages for wireless configs; the PSK passphrase is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, secret_input
from profiles.api.wireless_configs import chains
from profiles.models import Ieee8021xConfig, WirelessConfig
from profiles.services.wireless_configs import wireless_config_create, wireless_config_delete, wireless_config_update
from rps_site.api.validation import Field

AUTHENTICATION_METHODS = [(4, "4: WPA PSK"), (5, "5: WPA IEEE 802.1x"), (6, "6: WPA2 PSK"), (7, "7: WPA2 IEEE 802.1x")]
ENCRYPTION_METHODS = [(3, "3: TKIP"), (4, "4: CCMP")]
LINK_POLICIES = [(1, "1: S0 AC"), (14, "14: Sx AC"), (16, "16: S0 DC"), (224, "224: Sx DC")]


class WirelessConfigAdminForm(ApiValidatedForm):
    authentication_method = forms.TypedChoiceField(choices=AUTHENTICATION_METHODS, coerce=int)
    encryption_method = forms.TypedChoiceField(choices=ENCRYPTION_METHODS, coerce=int)
    link_policy = forms.TypedMultipleChoiceField(choices=LINK_POLICIES, coerce=int, required=False)
    psk_passphrase = secret_input("Write-only (PSK methods). On change, leave empty to keep the stored one.")
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
