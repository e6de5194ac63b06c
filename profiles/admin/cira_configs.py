"""Admin portal pages for CIRA configs; the MPS password is write-only (kept in Vault)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, secret_input
from profiles.api.cira_configs import create_chains, update_chains
from profiles.models import CiraConfig
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
    mps_password = secret_input("Write-only. Leave empty to keep the stored password.")
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


@admin.register(CiraConfig)
class CiraConfigAdmin(ServiceBackedAdmin):
    form = CiraConfigAdminForm
    list_display = ("name", "mps_server_address", "mps_port", "username", "server_address_format", "tenant_id")
    list_filter = ("server_address_format", "auth_method", "tenant_id")
    search_fields = ("name", "mps_server_address", "username")
    readonly_fields = ("tenant_id", "version")
    create_service = staticmethod(cira_config_create)
    update_service = staticmethod(cira_config_update)
    delete_service = staticmethod(cira_config_delete)
