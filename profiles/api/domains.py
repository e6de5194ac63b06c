"""REST endpoints for domains (rest-api.md §2.1): `/api/v1/admin/domains[/<name>]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from profiles import pfx
from profiles.api.resource import TenantResource
from profiles.models import Domain
from profiles.services.domains import (
    DomainChanges,
    DomainInput,
    domain_create,
    domain_delete,
    domain_not_found,
    domain_update,
)
from rps_site.api.validation import INT64, MISSING, CustomCheckFailed, Field, Number, Shape, Text, js_regex, js_string

NAME_SOURCE = r"^[a-zA-Z0-9_-]+$"
NAME = js_regex(NAME_SOURCE)
SECRET_FIELDS = ("provisioningCert", "provisioningCertPassword")
STORAGE_FORMATS = ["raw", "string"]
BODY: dict[str, Shape] = {
    "profileName": Text(max_length=256, pattern=NAME_SOURCE),
    "domainSuffix": Text(max_length=256),
    "provisioningCert": Text(max_length=pfx.MAX_BASE64_CHARACTERS),
    "provisioningCertPassword": Text(),
    "provisioningCertStorageFormat": Text(choices=tuple(STORAGE_FORMATS)),
    "version": Number(INT64),
}


def provisioning_certificate_check(value: Any, body: Mapping[str, Any]) -> bool:
    """The eight PFX checks, when both the certificate and its password are given: as the text the
    service will store (so `false` is checked as "false", not skipped and then stored unchecked)."""
    password = body.get("provisioningCertPassword", MISSING)
    if not js_string(value) or not js_string(password):
        return True
    suffix = body.get("domainSuffix", MISSING)
    if suffix is MISSING or suffix is None:
        # Upstream dereferences the missing suffix: a second error after `domainSuffix`'s own.
        missing = "undefined" if suffix is MISSING else "null"
        raise CustomCheckFailed(f"Cannot read properties of {missing} (reading 'split')")
    try:
        pfx.check_provisioning_certificate(js_string(value), js_string(password), js_string(suffix))
    except pfx.PfxRejected as rejected:
        raise CustomCheckFailed(str(rejected)) from None
    return True


def create_chains() -> list[Field]:
    return [
        Field("profileName")
        .not_empty("AMT Domain profile name is required")
        .matches(NAME, "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
        Field("provisioningCertPassword")
        .not_empty("Provisioning Cert Password is required")
        .is_length(maximum=64, message="Password should not exceed 64 characters in length"),
        Field("domainSuffix").not_empty("Domain suffix name is required"),
        Field("provisioningCert")
        .not_empty("Provisioning certificate is required")
        .custom(provisioning_certificate_check),
        Field("provisioningCertStorageFormat")
        .not_empty("Provisioning Cert Storage Format is required")
        .is_in(STORAGE_FORMATS, "Provisioning Cert Storage Format should be either 'raw' or 'string'"),
    ]


def update_chains() -> list[Field]:
    return [
        Field("profileName")
        .not_empty("AMT Domain profile name is required")
        .matches(NAME, "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
        Field("provisioningCertStorageFormat").is_in(
            STORAGE_FORMATS, 'Provisioning Cert Storage Format is either "raw" or "string"'
        ),
        Field("provisioningCertPassword").is_length(
            maximum=64, message="Password should not exceed 64 characters in length"
        ),
    ]


COLUMNS = ("name", "domain_suffix", "provisioning_cert_storage_format", "expiration_date", "tenant_id", "version")


def domain_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape, in upstream's key order; never the certificate or its password."""
    expiration = row["expiration_date"]
    return {
        "profileName": row["name"],
        "domainSuffix": row["domain_suffix"],
        "provisioningCertStorageFormat": row["provisioning_cert_storage_format"],
        "expirationDate": pfx.iso_milliseconds(expiration) if expiration is not None else None,
        "tenantId": row["tenant_id"],
        "version": str(row["version"]),
    }


def domain_input(body: Mapping[str, Any]) -> DomainInput:
    """A validated create body (certificate and password wrapped as `Secret`) as the service takes it."""
    return DomainInput(
        name=str(body["profileName"]),
        domain_suffix=str(body["domainSuffix"]),
        storage_format=str(body["provisioningCertStorageFormat"]),
        certificate=body["provisioningCert"],
        password=body["provisioningCertPassword"],
    )


def domain_changes(body: Mapping[str, Any]) -> DomainChanges:
    suffix, storage_format = body.get("domainSuffix"), body.get("provisioningCertStorageFormat")
    return DomainChanges(
        name=str(body["profileName"]),
        domain_suffix=None if suffix is None else str(suffix),
        storage_format=None if storage_format is None else str(storage_format),
        certificate=body.get("provisioningCert") or None,  # an empty secret is none
        password=body.get("provisioningCertPassword") or None,
    )


class Domains(TenantResource):
    route = "domains"
    model = Domain
    columns = COLUMNS
    record = staticmethod(domain_record)
    not_found = staticmethod(domain_not_found)
    body_shapes = BODY
    secret_fields = SECRET_FIELDS
    create_service = staticmethod(domain_create)
    update_service = staticmethod(domain_update)
    delete_service = staticmethod(domain_delete)
    create_data, update_data = staticmethod(domain_input), staticmethod(domain_changes)

    def chains(self, *, update: bool) -> list[Field]:
        return update_chains() if update else create_chains()


urlpatterns = Domains.urls()
