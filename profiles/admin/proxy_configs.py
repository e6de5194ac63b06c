"""Admin portal pages for proxy configs (no secret; `infoFormat` is derived from the address)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin
from profiles.api.proxy_configs import address_chains, create_chains, proxy_config_changes, proxy_config_input
from profiles.models import ProxyConfig
from profiles.services.proxy_configs import proxy_config_create, proxy_config_delete, proxy_config_update
from rps_site.api.validation import Field


class ProxyConfigAdminForm(ApiValidatedForm):
    name = forms.CharField(label="Config name", max_length=256, help_text="Letters and digits.")
    address = forms.CharField(
        label="Proxy address", max_length=256, help_text="An IPv4 or IPv6 address, or a host name (FQDN)."
    )
    port = forms.IntegerField(label="Port", help_text="1 to 65535.")
    network_dns_suffix = forms.CharField(
        label="Network DNS suffix", max_length=192, help_text="AMT uses this proxy on the network with this suffix."
    )
    field_of = {"name": "name", "address": "address", "port": "port", "networkDnsSuffix": "network_dns_suffix"}

    class Meta:
        model = ProxyConfig
        fields = ["name", "address", "port", "network_dns_suffix"]

    def api_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data.get("name", self.instance.name),
            "address": data.get("address"),
            "port": data.get("port"),
            "networkDnsSuffix": data.get("network_dns_suffix"),
        }

    def api_chains(self) -> list[Field]:
        return address_chains() if self.instance.pk else create_chains()

    def service_input(self, body: dict[str, Any]) -> Any:
        return proxy_config_changes(body) if self.instance.pk else proxy_config_input(body)


@admin.register(ProxyConfig)
class ProxyConfigAdmin(ServiceBackedAdmin):
    form = ProxyConfigAdminForm
    fieldsets = [("Proxy access point", {"fields": ["name", "address", "port", "info_format", "network_dns_suffix"]})]
    list_display = ("name", "address", "port", "info_format", "network_dns_suffix", "tenant_id")
    list_filter = ("info_format", "tenant_id")
    search_fields = ("name", "address", "network_dns_suffix")
    readonly_fields = ("info_format", "tenant_id", "version")
    create_service = staticmethod(proxy_config_create)
    update_service = staticmethod(proxy_config_update)
    delete_service = staticmethod(proxy_config_delete)
    versioned = False
