"""Admin portal pages for CIRA configs; the MPS password is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import (
    ApiValidatedForm,
    ServiceBackedAdmin,
    number_choice,
    optional_text,
    secret_input,
)
from profiles.api.cira_configs import cira_config_input, create_chains, update_chains
from profiles.models import AddressFormat, CiraConfig
from profiles.services.cira_configs import cira_config_create, cira_config_delete, cira_config_update
from rps_site.api.validation import Field

API_FIELDS = {
    "configName": "name",
    "mpsServerAddress": "mps_server_address",
    "mpsPort": "mps_port",
    "username": "username",
    "commonName": "common_name",
    "serverAddressFormat": "server_address_format",
    "authMethod": "auth_method",
    "mpsRootCertificate": "mps_root_certificate",
    "proxyDetails": "proxy_details",
}


class CiraConfigAdminForm(ApiValidatedForm):
    name = forms.CharField(label="Config name", max_length=256, help_text="Letters, digits, _ and -.")
    server_address_format = number_choice("MPS address format", AddressFormat, AddressFormat.FQDN)
    mps_server_address = forms.CharField(
        label="MPS address", max_length=256, help_text="Where devices open their CIRA tunnel to MPS."
    )
    mps_port = forms.IntegerField(label="MPS port", initial=4433, help_text="1024 to 49151; MPS listens on 4433.")
    common_name = optional_text(
        "Certificate common name",
        "The CN of MPS's server certificate: required, as an IPv4 address, with an IPv4 MPS address.",
        max_length=256,
    )
    auth_method = number_choice("Authentication", CiraConfig.AuthMethod, CiraConfig.AuthMethod.USERNAME_PASSWORD)
    username = forms.CharField(label="MPS username", max_length=40, help_text="5 to 16 letters and digits.")
    mps_password = secret_input(
        "Write-only, kept in Vault. Leave empty to keep the stored one (a new config without one gives each "
        "device a random password).",
        label="MPS password",
    )
    mps_root_certificate = forms.CharField(
        label="MPS root certificate",
        widget=forms.Textarea(attrs={"rows": 6, "class": "vLargeTextField portal-monospace"}),
        help_text="The CA certificate that signed MPS's server certificate, base64 DER (MPS serves it at "
        "<code>/api/v1/ciracert</code>).",
    )
    proxy_details = optional_text(
        "Proxy details",
        "Free text kept with the config, as upstream.",
        widget=forms.Textarea(attrs={"rows": 2, "class": "vLargeTextField"}),
    )
    secret_fields = {"mps_password": "password"}
    field_of = {**API_FIELDS, "password": "mps_password"}

    class Meta:
        model = CiraConfig
        fields = [*API_FIELDS.values()]

    def api_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        body = {api: data.get(form) for api, form in API_FIELDS.items() if form in data}
        body.setdefault("configName", self.instance.name)
        return {key: value for key, value in body.items() if value is not None}

    def api_chains(self) -> list[Field]:
        return update_chains() if self.instance.pk else create_chains()

    def service_input(self, body: dict[str, Any]) -> Any:
        return cira_config_input(body)


@admin.register(CiraConfig)
class CiraConfigAdmin(ServiceBackedAdmin):
    form = CiraConfigAdminForm
    fieldsets = [
        ("MPS server", {"fields": ["name", "server_address_format", "mps_server_address", "mps_port", "common_name"]}),
        ("Authentication", {"fields": ["auth_method", "username", "mps_password"]}),
        ("Trust", {"fields": ["mps_root_certificate", "proxy_details"]}),
    ]
    list_display = ("name", "mps_server_address", "mps_port", "username", "server_address_format", "tenant_id")
    list_filter = ("server_address_format", "auth_method", "tenant_id")
    search_fields = ("name", "mps_server_address", "username")
    readonly_fields = ("tenant_id", "version")
    create_service = staticmethod(cira_config_create)
    update_service = staticmethod(cira_config_update)
    delete_service = staticmethod(cira_config_delete)
