"""Admin portal pages for domains: the PFX is uploaded as a file, its password is write-only."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from profiles.admin.service_backed import ApiValidatedForm, ServiceBackedAdmin, radio, secret_input
from profiles.api.domains import create_chains, domain_changes, domain_input, update_chains
from profiles.models import Domain
from profiles.selectors.domains import CERTIFICATE_WARNING
from profiles.services.domains import domain_create, domain_delete, domain_update
from rps_site.api.validation import Field


class DomainAdminForm(ApiValidatedForm):
    name = forms.CharField(label="Domain name", max_length=256, help_text="A name for this certificate's domain.")
    domain_suffix = forms.CharField(
        label="DNS suffix",
        max_length=256,
        help_text="Devices whose DNS suffix is this one are activated in admin control mode with this certificate.",
    )
    provisioning_cert_file = forms.FileField(
        label="Provisioning certificate",
        required=False,
        help_text="The PKCS#12 file (.pfx) with the certificate chain and its key. Write-only, kept in Vault; "
        "on change, leave empty to keep the stored one.",
    )
    provisioning_cert_password = secret_input(
        "Write-only, kept in Vault. On change, leave empty to keep the stored one.", label="Certificate password"
    )
    provisioning_cert_storage_format = forms.ChoiceField(
        label="Storage format",
        choices=Domain.StorageFormat.choices,
        initial=Domain.StorageFormat.STRING,
        widget=radio(),
        help_text="As upstream's API names it; the web UI sends string.",
    )
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

    def service_input(self, body: dict[str, Any]) -> Any:
        return domain_changes(body) if self.instance.pk else domain_input(body)


@admin.register(Domain)
class DomainAdmin(ServiceBackedAdmin):
    form = DomainAdminForm
    fieldsets = [
        ("Domain", {"fields": ["name", "domain_suffix"]}),
        (
            "Provisioning certificate",
            {
                "fields": [
                    "provisioning_cert_file",
                    "provisioning_cert_password",
                    "provisioning_cert_storage_format",
                    "expiration_date",
                ]
            },
        ),
    ]
    list_display = ("name", "domain_suffix", "certificate_expiry", "provisioning_cert_storage_format", "tenant_id")
    list_filter = ("provisioning_cert_storage_format", "tenant_id")
    search_fields = ("name", "domain_suffix")
    readonly_fields = ("expiration_date", "tenant_id", "version")
    create_service = staticmethod(domain_create)
    update_service = staticmethod(domain_update)
    delete_service = staticmethod(domain_delete)

    @admin.display(description="Certificate expires", ordering="expiration_date")
    def certificate_expiry(self, obj: Domain) -> str:
        if obj.expiration_date is None:
            return "-"
        left = obj.expiration_date - timezone.now()
        days = left.days
        when = timezone.localtime(obj.expiration_date).strftime("%Y-%m-%d")
        if days < 0:
            return format_html('<span class="portal-chip portal-chip-failed">expired {}</span>', when)
        if left < CERTIFICATE_WARNING:
            return format_html('<span class="portal-chip portal-chip-warning">{} (in {} days)</span>', when, days)
        return when
