"""Admin portal pages for IEEE 802.1X configs; the EAP password is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, either, optional_text, secret_input
from profiles.api.ieee8021x_configs import chains
from profiles.models import Ieee8021xConfig
from profiles.services.ieee8021x_configs import (
    ieee8021x_config_create,
    ieee8021x_config_delete,
    ieee8021x_config_update,
)
from rps_site.api.validation import Field

API_FIELDS = {
    "profileName": "name",
    "authenticationProtocol": "authentication_protocol",
    "pxeTimeout": "pxe_timeout",
    "wiredInterface": "wired_interface",
    "serverName": "server_name",
    "domain": "domain",
    "username": "username",
    "roamingIdentity": "roaming_identity",
    "activeInS0": "active_in_s0",
}


class Ieee8021xConfigAdminForm(ApiValidatedForm):
    name = forms.CharField(label="Config name", max_length=32, help_text="Up to 32 letters and digits.")
    wired_interface = either(
        "Interface",
        "Wired",
        "Wireless",
        initial=True,
        help_text="A wired config is chosen in a profile; a wireless one in a Wi-Fi config.",
    )
    authentication_protocol = forms.TypedChoiceField(
        label="Authentication protocol",
        choices=Ieee8021xConfig.AuthenticationProtocol.choices,
        coerce=int,
        help_text="Wireless links support EAP-TLS and PEAPv0/EAP-MSCHAPv2 only.",
    )
    pxe_timeout = forms.IntegerField(
        label="PXE timeout",
        required=False,
        initial=120,
        help_text="Wired only: seconds (0 to 86400) the port stays open for PXE boot without 802.1X.",
    )
    server_name = optional_text("Server name", "The authentication server's name.", max_length=255)
    domain = optional_text("Domain", max_length=255)
    username = optional_text("Username", max_length=255)
    eap_password = secret_input(
        "PEAPv0/EAP-MSCHAPv2: write-only, kept in Vault; on change, leave empty to keep it.", label="Password"
    )
    roaming_identity = optional_text("Roaming identity", max_length=255)
    active_in_s0 = forms.BooleanField(label="Active when the host is running (S0)", required=False)
    secret_fields = {"eap_password": "password"}
    field_of = {**API_FIELDS, "password": "eap_password"}

    class Meta:
        model = Ieee8021xConfig
        fields = [*API_FIELDS.values()]

    def api_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        body = {api: data.get(form) for api, form in API_FIELDS.items()}
        body["profileName"] = data.get("name", self.instance.name)
        body["wiredInterface"] = bool(data.get("wired_interface"))
        return {key: value for key, value in body.items() if value is not None and value != ""}

    def api_chains(self) -> list[Field]:
        return chains(with_version=False)


@admin.register(Ieee8021xConfig)
class Ieee8021xConfigAdmin(ServiceBackedAdmin):
    form = Ieee8021xConfigAdminForm
    fieldsets = [
        ("802.1X", {"fields": ["name", "wired_interface", "authentication_protocol", "pxe_timeout", "active_in_s0"]}),
        ("Credentials", {"fields": ["server_name", "domain", "username", "eap_password", "roaming_identity"]}),
    ]
    list_display = ("name", "authentication_protocol", "wired_interface", "pxe_timeout", "tenant_id")
    list_filter = ("wired_interface", "authentication_protocol", "tenant_id")
    search_fields = ("name",)
    readonly_fields = ("tenant_id", "version")
    create_service = staticmethod(ieee8021x_config_create)
    update_service = staticmethod(ieee8021x_config_update)
    delete_service = staticmethod(ieee8021x_config_delete)
