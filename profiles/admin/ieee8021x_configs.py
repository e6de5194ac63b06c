"""Admin portal pages for IEEE 802.1X configs; the EAP password is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, secret_input
from profiles.api.ieee8021x_configs import chains
from profiles.models import Ieee8021xConfig
from profiles.services.ieee8021x_configs import (
    ieee8021x_config_create,
    ieee8021x_config_delete,
    ieee8021x_config_update,
)
from rps_site.api.validation import Field

PROTOCOLS = [
    (0, "0: EAP-TLS"),
    (2, "2: PEAPv0/EAP-MSCHAPv2"),
    (3, "3: PEAPv1/EAP-GTC (wired)"),
    (5, "5: EAP-FAST/GTC (wired)"),
    (10, "10: EAP-FAST/TLS (wired)"),
]
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
    authentication_protocol = forms.TypedChoiceField(choices=PROTOCOLS, coerce=int)
    wired_interface = forms.BooleanField(required=False)
    eap_password = secret_input("Write-only. Leave empty to keep the stored password.")
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
    list_display = ("name", "authentication_protocol", "wired_interface", "pxe_timeout", "tenant_id")
    list_filter = ("wired_interface", "authentication_protocol", "tenant_id")
    search_fields = ("name",)
    readonly_fields = ("tenant_id", "version")
    create_service = staticmethod(ieee8021x_config_create)
    update_service = staticmethod(ieee8021x_config_update)
    delete_service = staticmethod(ieee8021x_config_delete)
