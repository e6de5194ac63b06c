"""Admin portal pages for domains: the PFX is uploaded as a file, its password is write-only."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.contrib import admin

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, secret_input
from profiles.api.domains import create_chains, update_chains
from profiles.models import Domain
from profiles.services.domains import domain_create, domain_delete, domain_update
from rps_site.api.validation import Field


class DomainAdminForm(ApiValidatedForm):
    provisioning_cert_file = forms.FileField(
        required=False, help_text="PKCS#12 (.pfx). Write-only. On change, leave empty to keep the stored one."
    )
    provisioning_cert_password = secret_input("Write-only. On change, leave empty to keep the stored one.")
    secret_fields = {"provisioning_cert_password": "provisioningCertPassword"}
    extra_secret_api_fields = ("provisioningCert",)
    field_of = {
        "profileName": "name",
        "domainSuffix": "domain_suffix",
        "provisioningCert": "provisioning_cert_file",
        "provisioningCertPassword": "provisioning_cert_password",
        "provisioningCertStorageFormat": "provisioning_cert_storage_format",
    }

    class Meta:
        model = Domain
        fields = ["name", "domain_suffix", "provisioning_cert_storage_format"]

    def api_body(self) -> dict[str, Any]:
        data = self.cleaned_data
        body: dict[str, Any] = {
            "profileName": data.get("name", self.instance.name),
            "domainSuffix": data.get("domain_suffix"),
            "provisioningCertStorageFormat": data.get("provisioning_cert_storage_format"),
        }
        upload = data.get("provisioning_cert_file")
        if upload:
            body["provisioningCert"] = base64.b64encode(upload.read()).decode("ascii")
        return body

    def api_chains(self) -> list[Field]:
        return update_chains() if self.instance.pk else create_chains()


@admin.register(Domain)
class DomainAdmin(ServiceBackedAdmin):
    form = DomainAdminForm
    list_display = ("name", "domain_suffix", "provisioning_cert_storage_format", "expiration_date", "tenant_id")
    list_filter = ("provisioning_cert_storage_format", "tenant_id")
    search_fields = ("name", "domain_suffix")
    readonly_fields = ("expiration_date", "tenant_id", "version")
    create_service = staticmethod(domain_create)
    update_service = staticmethod(domain_update)
    delete_service = staticmethod(domain_delete)
